using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UnlearnService.Features.Datasets;

/// <summary>
/// A registered dataset. Its samples live in one blob (safetensors: x, y, split, ids in the metadata); this row
/// and <see cref="DatasetSample"/> index them so requests can be resolved without loading the blob.
/// </summary>
internal sealed class DatasetRecord
{
    public Guid Id { get; set; }
    public Guid TenantId { get; set; }
    public required string Name { get; set; }
    public required string Format { get; set; }
    public required string Task { get; set; }
    public int ClassCount { get; set; }
    public required string SampleShape { get; set; }
    public int SampleCount { get; set; }
    public int TrainCount { get; set; }
    public int TestCount { get; set; }
    public int ValidationCount { get; set; }
    public int SubjectCount { get; set; }
    public int ForgottenCount { get; set; }
    public required string BlobPath { get; set; }
    public required string Sha256 { get; set; }

    /// <summary>Salt of the hashes that replace forgotten sample ids (evidence without the ids).</summary>
    public required byte[] Salt { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>One sample's identity: what requests resolve against. Forgotten samples keep only a salted id hash.</summary>
internal sealed class DatasetSample
{
    public Guid DatasetId { get; set; }
    public int Index { get; set; }

    /// <summary>The sample id; null once forgotten and purged.</summary>
    public string? SampleId { get; set; }

    public string? SubjectId { get; set; }
    public byte Split { get; set; }
    public int Label { get; set; }

    /// <summary>SHA-256(salt ‖ id), set when the sample's features are deleted.</summary>
    public byte[]? SampleIdHash { get; set; }

    public DateTimeOffset? ForgottenAt { get; set; }
}

internal sealed class DatasetRecordConfiguration : IEntityTypeConfiguration<DatasetRecord>
{
    public void Configure(EntityTypeBuilder<DatasetRecord> builder)
    {
        builder.ToTable("datasets");
        builder.HasKey(d => d.Id);
        builder.Property(d => d.Name).HasMaxLength(200);
        builder.Property(d => d.Format).HasMaxLength(20);
        builder.Property(d => d.Task).HasMaxLength(20);
        builder.Property(d => d.SampleShape).HasMaxLength(100);
        builder.Property(d => d.BlobPath).HasMaxLength(500);
        builder.Property(d => d.Sha256).HasMaxLength(64);
        builder.Property(d => d.Salt).HasMaxLength(32);
        builder.HasIndex(d => new { d.TenantId, d.CreatedAt });
        builder.HasOne<Tenants.Tenant>().WithMany().HasForeignKey(d => d.TenantId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class DatasetSampleConfiguration : IEntityTypeConfiguration<DatasetSample>
{
    public void Configure(EntityTypeBuilder<DatasetSample> builder)
    {
        builder.ToTable("dataset_samples");
        builder.HasKey(s => new { s.DatasetId, s.Index });
        builder.Property(s => s.SampleId).HasMaxLength(200);
        builder.Property(s => s.SubjectId).HasMaxLength(200);
        builder.Property(s => s.SampleIdHash).HasMaxLength(32);
        builder.HasIndex(s => new { s.DatasetId, s.SampleId }).IsUnique();
        builder.HasIndex(s => new { s.DatasetId, s.SubjectId });
        builder.HasIndex(s => s.SubjectId);
        builder.HasOne<DatasetRecord>().WithMany().HasForeignKey(s => s.DatasetId).OnDelete(DeleteBehavior.Cascade);
    }
}
