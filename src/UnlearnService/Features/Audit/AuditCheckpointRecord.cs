using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UnlearnService.Features.Audit;

/// <summary>
/// A signed checkpoint of the audit chain: its size and the RFC 9162 Merkle root over the event hashes, as a DSSE
/// envelope, with the consistency proof from the checkpoint before it. Append-only, like the events.
/// </summary>
internal sealed class AuditCheckpointRecord
{
    public long Id { get; set; }
    public long TreeSize { get; set; }
    public required string RootHash { get; set; }
    public required string KeyId { get; set; }

    /// <summary>The signed checkpoint (what an auditor verifies; the columns above are copies for queries).</summary>
    public required string EnvelopeJson { get; set; }

    /// <summary>Tree size of the previous checkpoint that <see cref="ConsistencyProofJson"/> starts from.</summary>
    public long? PreviousTreeSize { get; set; }

    /// <summary>JSON array of lowercase hex hashes: the RFC 9162 consistency proof from the previous checkpoint.</summary>
    public string? ConsistencyProofJson { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

internal sealed class AuditCheckpointConfiguration : IEntityTypeConfiguration<AuditCheckpointRecord>
{
    public void Configure(EntityTypeBuilder<AuditCheckpointRecord> builder)
    {
        builder.ToTable("audit_checkpoints");
        builder.HasKey(c => c.Id);
        builder.Property(c => c.RootHash).HasMaxLength(64);
        builder.Property(c => c.KeyId).HasMaxLength(64);
        builder.HasIndex(c => c.TreeSize).IsUnique();
    }
}
