using System.Text.Json;
using UnlearnService.Data;

namespace UnlearnService.Features.Audit;

/// <summary>Adds audit events to the context; they are saved with the change they describe, in one transaction.</summary>
internal static class AuditLog
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Record(this UnlearnDbContext db, Guid? tenantId, string actor, string action, string entityType, object entityId, object? data = null) =>
        db.AuditEvents.Add(new AuditEvent
        {
            TenantId = tenantId,
            Timestamp = DateTimeOffset.UtcNow,
            Actor = actor,
            Action = action,
            EntityType = entityType,
            EntityId = entityId.ToString()!,
            DataJson = data is null ? null : JsonSerializer.Serialize(data, Json),
        });
}
