using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UnlearnService.Features.Webhooks;

/// <summary>A tenant's endpoint that receives request events, signed with HMAC-SHA256 of its secret.</summary>
internal sealed class Webhook
{
    public Guid Id { get; set; }
    public Guid TenantId { get; set; }
    public required string Url { get; set; }
    public required string Secret { get; set; }

    /// <summary>Space-separated event types, e.g. "request.completed request.failed".</summary>
    public required string Events { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>One event sent (or to be sent) to one webhook; retried with backoff until delivered or given up.</summary>
internal sealed class WebhookDelivery
{
    public Guid Id { get; set; }
    public Guid WebhookId { get; set; }
    public Guid TenantId { get; set; }
    public required string EventType { get; set; }
    public required string PayloadJson { get; set; }
    public int Attempts { get; set; }
    public required string Status { get; set; }
    public int? LastStatusCode { get; set; }
    public string? LastError { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? DeliveredAt { get; set; }
}

internal sealed class WebhookConfiguration : IEntityTypeConfiguration<Webhook>
{
    public void Configure(EntityTypeBuilder<Webhook> builder)
    {
        builder.ToTable("webhooks");
        builder.HasKey(w => w.Id);
        builder.Property(w => w.Url).HasMaxLength(2000);
        builder.Property(w => w.Secret).HasMaxLength(100);
        builder.Property(w => w.Events).HasMaxLength(500);
        builder.HasIndex(w => w.TenantId);
        builder.HasOne<Tenants.Tenant>().WithMany().HasForeignKey(w => w.TenantId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class WebhookDeliveryConfiguration : IEntityTypeConfiguration<WebhookDelivery>
{
    public void Configure(EntityTypeBuilder<WebhookDelivery> builder)
    {
        builder.ToTable("webhook_deliveries");
        builder.HasKey(d => d.Id);
        builder.Property(d => d.EventType).HasMaxLength(50);
        builder.Property(d => d.Status).HasMaxLength(20);
        builder.Property(d => d.LastError).HasMaxLength(2000);
        builder.HasIndex(d => d.WebhookId);
        builder.HasOne<Webhook>().WithMany().HasForeignKey(d => d.WebhookId).OnDelete(DeleteBehavior.Cascade);
    }
}
