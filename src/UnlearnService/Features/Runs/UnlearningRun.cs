using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UnlearnService.Features.Runs;

internal static class RunStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string NeedsRetraining = "needs_retraining";

    public static readonly string[] Unfinished = [Queued, Running];
}

/// <summary>
/// One unlearning run on one model: from a base version, for one or more requests batched together, producing
/// at most one output version. Everything needed to reproduce and audit it is stored here.
/// </summary>
internal sealed class UnlearningRun
{
    public Guid Id { get; set; }
    public Guid TenantId { get; set; }
    public Guid ModelId { get; set; }
    public Guid BaseVersionId { get; set; }
    public Guid? OutputVersionId { get; set; }

    /// <summary>auto, or an engine method name.</summary>
    public required string RequestedMethod { get; set; }

    /// <summary>The method that produced the output (auto may escalate SSD → SalUn).</summary>
    public string? Method { get; set; }

    public string? SettingsJson { get; set; }
    public long Seed { get; set; }
    public string? Device { get; set; }
    public required string Status { get; set; }
    public string? Phase { get; set; }
    public double Progress { get; set; }
    public int Attempts { get; set; }
    public int ForgetCount { get; set; }

    /// <summary>JSON array of the sample ids this run forgot (the evidence source until their features are purged).</summary>
    public string? ForgetSampleIdsJson { get; set; }

    /// <summary>
    /// Merkle root of the salted commitment to the forgotten ids (SaltedIdCommitment with the dataset's salt) and
    /// how many distinct ids it covers. Computed when the run commits, before the purge replaces the ids by hashes,
    /// so that the certificate never depends on which form the ids are in.
    /// </summary>
    public string? ForgetCommitmentRoot { get; set; }

    public int? ForgetCommitmentCount { get; set; }

    public string? MetricsBeforeJson { get; set; }
    public string? MetricsAfterJson { get; set; }
    public string? VerdictJson { get; set; }

    /// <summary>Every method tried, with its verdict, when auto escalated.</summary>
    public string? AttemptsJson { get; set; }

    public double? RteSeconds { get; set; }

    /// <summary>The worker that holds the run, and when it last reported: a stale heartbeat lets another take over.</summary>
    public string? ClaimedBy { get; set; }

    public DateTimeOffset? HeartbeatAt { get; set; }
    public string? Error { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
}

internal sealed class UnlearningRunConfiguration : IEntityTypeConfiguration<UnlearningRun>
{
    public void Configure(EntityTypeBuilder<UnlearningRun> builder)
    {
        builder.ToTable("unlearning_runs");
        builder.HasKey(r => r.Id);
        builder.Property(r => r.RequestedMethod).HasMaxLength(20);
        builder.Property(r => r.Method).HasMaxLength(20);
        builder.Property(r => r.Device).HasMaxLength(20);
        builder.Property(r => r.Status).HasMaxLength(20);
        builder.Property(r => r.Phase).HasMaxLength(200);
        builder.Property(r => r.ClaimedBy).HasMaxLength(200);
        builder.Property(r => r.ForgetCommitmentRoot).HasMaxLength(64);
        builder.HasIndex(r => new { r.ModelId, r.Status });
        builder.HasIndex(r => r.Status);
        builder.HasOne<Models.ModelRecord>().WithMany().HasForeignKey(r => r.ModelId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<Models.ModelVersion>().WithMany().HasForeignKey(r => r.BaseVersionId).OnDelete(DeleteBehavior.Restrict);
    }
}
