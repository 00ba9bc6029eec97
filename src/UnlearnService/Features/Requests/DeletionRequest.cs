using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UnlearnService.Features.Requests;

/// <summary>Request states: received → validated → queued → running → completed, or rejected / failed / cancelled / needs_retraining.</summary>
internal static class RequestStatus
{
    public const string Received = "received";
    public const string Validated = "validated";
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Rejected = "rejected";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    /// <summary>Every method tried failed its verdict: the base version stays current and a retrain is needed.</summary>
    public const string NeedsRetraining = "needs_retraining";

    public static readonly string[] All = [Received, Validated, Queued, Running, Completed, Rejected, Failed, Cancelled, NeedsRetraining];
    public static readonly string[] Final = [Completed, Rejected, Failed, Cancelled, NeedsRetraining];
}

/// <summary>A right-to-be-forgotten request against one or more models.</summary>
internal sealed class DeletionRequest
{
    public Guid Id { get; set; }
    public Guid TenantId { get; set; }

    /// <summary>samples | subjects | class.</summary>
    public required string Kind { get; set; }

    /// <summary>JSON array of the sample or subject ids (empty for a class).</summary>
    public required string TargetsJson { get; set; }

    public int? ClassLabel { get; set; }

    /// <summary>JSON array of model ids asked for; null = every model trained on the targets.</summary>
    public string? RequestedModelIdsJson { get; set; }

    public required string Method { get; set; }
    public string? Reason { get; set; }
    public string? LegalBasis { get; set; }
    public string? ExternalReference { get; set; }
    public string? IdempotencyKey { get; set; }

    /// <summary>SHA-256 of the canonical request body: a replay with another body is refused.</summary>
    public required string BodyHash { get; set; }

    public required string Status { get; set; }
    public string? Phase { get; set; }
    public double Progress { get; set; }
    public string? FailureReason { get; set; }
    public Guid? CreatedByKeyId { get; set; }
    public DateTimeOffset ReceivedAt { get; set; }
    public DateTimeOffset DueAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
}

/// <summary>One model a request applies to, and the run that serves it. One per (request, model).</summary>
internal sealed class RequestModel
{
    public Guid RequestId { get; set; }
    public Guid ModelId { get; set; }
    public Guid TenantId { get; set; }
    public Guid? RunId { get; set; }
    public required string Status { get; set; }
}

internal sealed class DeletionRequestConfiguration : IEntityTypeConfiguration<DeletionRequest>
{
    public void Configure(EntityTypeBuilder<DeletionRequest> builder)
    {
        builder.ToTable("deletion_requests");
        builder.HasKey(r => r.Id);
        builder.Property(r => r.Kind).HasMaxLength(20);
        builder.Property(r => r.Method).HasMaxLength(20);
        builder.Property(r => r.Status).HasMaxLength(20);
        builder.Property(r => r.Phase).HasMaxLength(200);
        builder.Property(r => r.Reason).HasMaxLength(2000);
        builder.Property(r => r.LegalBasis).HasMaxLength(200);
        builder.Property(r => r.ExternalReference).HasMaxLength(200);
        builder.Property(r => r.IdempotencyKey).HasMaxLength(200);
        builder.Property(r => r.BodyHash).HasMaxLength(64);
        builder.Property(r => r.FailureReason).HasMaxLength(2000);
        // Unique per tenant: concurrent replays of one key create exactly one request.
        builder.HasIndex(r => new { r.TenantId, r.IdempotencyKey }).IsUnique();
        builder.HasIndex(r => new { r.TenantId, r.Status, r.ReceivedAt });
        builder.HasOne<Tenants.Tenant>().WithMany().HasForeignKey(r => r.TenantId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class RequestModelConfiguration : IEntityTypeConfiguration<RequestModel>
{
    public void Configure(EntityTypeBuilder<RequestModel> builder)
    {
        builder.ToTable("request_models");
        builder.HasKey(r => new { r.RequestId, r.ModelId });
        builder.Property(r => r.Status).HasMaxLength(20);
        builder.HasIndex(r => new { r.ModelId, r.Status });
        builder.HasIndex(r => r.RunId);
        builder.HasOne<DeletionRequest>().WithMany().HasForeignKey(r => r.RequestId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Models.ModelRecord>().WithMany().HasForeignKey(r => r.ModelId).OnDelete(DeleteBehavior.Restrict);
    }
}
