using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UnlearnService.Features.Audit;

/// <summary>An append-only record of a state change or an access, written in the same transaction as the change.</summary>
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
    }
}
