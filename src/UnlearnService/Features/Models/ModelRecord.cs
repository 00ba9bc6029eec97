using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UnlearnService.Features.Models;

/// <summary>A registered model: a zoo architecture trained on one dataset. Its weights are its versions.</summary>
internal sealed class ModelRecord
{
    public Guid Id { get; set; }
    public Guid TenantId { get; set; }
    public required string Name { get; set; }
    public Guid DatasetId { get; set; }

    /// <summary>The engine's ModelSpec as JSON.</summary>
    public required string SpecJson { get; set; }

    /// <summary>The training recipe as JSON, when known (Retrain needs it).</summary>
    public string? RecipeJson { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

internal static class VersionStatus
{
    public const string Current = "current";
    public const string Superseded = "superseded";
}

/// <summary>Immutable weights of a model; the lineage is parent → child, each child produced by one run.</summary>
internal sealed class ModelVersion
{
    public Guid Id { get; set; }
    public Guid TenantId { get; set; }
    public Guid ModelId { get; set; }
    public int Number { get; set; }
    public required string Sha256 { get; set; }
    public required string BlobPath { get; set; }
    public long SizeBytes { get; set; }
    public Guid? ParentVersionId { get; set; }
    public Guid? ProducedByRunId { get; set; }
    public required string Status { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Blob of SSD's training-set importances for this version, once computed.</summary>
    public string? ImportanceBlobPath { get; set; }
}

internal sealed class ModelRecordConfiguration : IEntityTypeConfiguration<ModelRecord>
{
    public void Configure(EntityTypeBuilder<ModelRecord> builder)
    {
        builder.ToTable("models");
        builder.HasKey(m => m.Id);
        builder.Property(m => m.Name).HasMaxLength(200);
        builder.Property(m => m.SpecJson).HasMaxLength(4000);
        builder.Property(m => m.RecipeJson).HasMaxLength(4000);
        builder.HasIndex(m => new { m.TenantId, m.CreatedAt });
        builder.HasIndex(m => m.DatasetId);
        builder.HasOne<Tenants.Tenant>().WithMany().HasForeignKey(m => m.TenantId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<Datasets.DatasetRecord>().WithMany().HasForeignKey(m => m.DatasetId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class ModelVersionConfiguration : IEntityTypeConfiguration<ModelVersion>
{
    public void Configure(EntityTypeBuilder<ModelVersion> builder)
    {
        builder.ToTable("model_versions");
        builder.HasKey(v => v.Id);
        builder.Property(v => v.Sha256).HasMaxLength(64);
        builder.Property(v => v.BlobPath).HasMaxLength(500);
        builder.Property(v => v.ImportanceBlobPath).HasMaxLength(500);
        builder.Property(v => v.Status).HasMaxLength(20);
        builder.HasIndex(v => new { v.ModelId, v.Number }).IsUnique();
        // One output version per run: a retried run cannot produce a second one.
        builder.HasIndex(v => v.ProducedByRunId).IsUnique();
        builder.HasOne<ModelRecord>().WithMany().HasForeignKey(v => v.ModelId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<ModelVersion>().WithMany().HasForeignKey(v => v.ParentVersionId).OnDelete(DeleteBehavior.Restrict);
    }
}
