using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UnlearnService.Features.Audit;

/// <summary>
/// An append-only record of a state change or an access, written in the same transaction as the change. Events
/// form one global hash chain (<see cref="AuditTrail"/>): <see cref="Sequence"/>, <see cref="PreviousHash"/> and
/// <see cref="Hash"/> are assigned when the event is saved. The tenant is hashed too: moving an event to another
/// tenant's log breaks the chain.
/// </summary>
internal sealed class AuditEvent
{
    public long Id { get; set; }
    public Guid? TenantId { get; set; }
    public DateTimeOffset Timestamp { get; set; }

    /// <summary>Who: "key:{id}", "worker:{server}", "system".</summary>
    public required string Actor { get; set; }

    public required string Action { get; set; }
    public required string EntityType { get; set; }
    public required string EntityId { get; set; }
    public string? DataJson { get; set; }

    /// <summary>Position in the global chain, from 1; null only for events written before the chain existed.</summary>
    public long? Sequence { get; set; }

    public string? PreviousHash { get; set; }
    public string? Hash { get; set; }
}

internal sealed class AuditEventConfiguration : IEntityTypeConfiguration<AuditEvent>
{
    public void Configure(EntityTypeBuilder<AuditEvent> builder)
    {
        builder.ToTable("audit_events");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.Actor).HasMaxLength(200);
        builder.Property(e => e.Action).HasMaxLength(100);
        builder.Property(e => e.EntityType).HasMaxLength(50);
        builder.Property(e => e.EntityId).HasMaxLength(100);
        builder.HasIndex(e => new { e.TenantId, e.Id });
        builder.HasIndex(e => new { e.EntityType, e.EntityId });
        builder.Property(e => e.PreviousHash).HasMaxLength(64);
        builder.Property(e => e.Hash).HasMaxLength(64);
        // Two writers can never both claim a sequence number, whatever happens to the lock.
        builder.HasIndex(e => e.Sequence).IsUnique();
    }
}
