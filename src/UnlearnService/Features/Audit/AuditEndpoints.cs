using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UnlearnService.Data;
using UnlearnService.Features.Tenants;

namespace UnlearnService.Features.Audit;

internal sealed record AuditEventResponse(long Id, DateTimeOffset Timestamp, string Actor, string Action, string EntityType, string EntityId, JsonElement? Data);

internal static class AuditEndpoints
{
    public static IEndpointRouteBuilder MapAuditEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/audit").WithTags("Audit").RequireAuthorization(Scopes.AuditRead)
            .MapGet("/", List).WithName("ListAuditEvents").WithSummary("The tenant's audit events in order; filter by entity.");
        return app;
    }

    static async Task<Results<Ok<Page<AuditEventResponse>>, ValidationProblem>> List(UnlearnDbContext db, ClaimsPrincipal user,
        string? entityType = null, string? entityId = null, long? after = null, int page = 1, int pageSize = 100, CancellationToken cancellationToken = default)
    {
        if (Paging.Invalid(page, pageSize) is { } error) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["page"] = [error] });
        var tenant = Caller.From(user).TenantId;
        var query = db.AuditEvents.AsNoTracking().Where(e => e.TenantId == tenant);
        if (entityType is not null) query = query.Where(e => e.EntityType == entityType);
        if (entityId is not null) query = query.Where(e => e.EntityId == entityId);
        if (after is not null) query = query.Where(e => e.Id > after);
        return TypedResults.Ok(await query.OrderBy(e => e.Id).ToPageAsync(page, pageSize,
            e => new AuditEventResponse(e.Id, e.Timestamp, e.Actor, e.Action, e.EntityType, e.EntityId, e.DataJson is null ? null : JsonDocument.Parse(e.DataJson).RootElement.Clone()),
            cancellationToken));
    }
}
