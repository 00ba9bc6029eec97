using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using UnlearnService.Data;
using UnlearnService.Evidence;
using UnlearnService.Features.Tenants;

namespace UnlearnService.Features.Audit;

internal sealed record AuditEventResponse(long Id, long? Sequence, DateTimeOffset Timestamp, string Actor, string Action, string EntityType, string EntityId,
    JsonElement? Data, string? PreviousHash, string? Hash);

internal static class AuditEndpoints
{
    public static IEndpointRouteBuilder MapAuditEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/audit").WithTags("Audit");
        group.MapGet("/", List).WithName("ListAuditEvents").RequireAuthorization(Scopes.AuditRead)
            .WithSummary("The tenant's audit events in order, with their place in the hash chain; filter by entity.");
        // The chain is global (every tenant's events in one sequence), so checking it is an operator's task.
        group.MapGet("/verify", Verify).WithName("VerifyAuditTrail").RequireAuthorization(Scopes.Operator)
            .WithSummary("Operator: verify the whole hash chain and every signed checkpoint; names the first bad sequence and why.");
        group.MapGet("/checkpoints", Checkpoints).WithName("ListAuditCheckpoints").RequireAuthorization(Scopes.AuditRead)
            .WithSummary("Signed checkpoints (size and Merkle root of the global log), newest first, with consistency proofs.");
        group.MapPost("/checkpoints", Checkpoint).WithName("CreateAuditCheckpoint").RequireAuthorization(Scopes.Operator)
            .WithSummary("Operator: sign a checkpoint of the log now (the recurring job does this periodically).")
            .ProducesProblem(StatusCodes.Status409Conflict);
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
            e => new AuditEventResponse(e.Id, e.Sequence, e.Timestamp, e.Actor, e.Action, e.EntityType, e.EntityId,
                e.DataJson is null ? null : JsonDocument.Parse(e.DataJson).RootElement.Clone(), e.PreviousHash, e.Hash),
            cancellationToken));
    }

    static async Task<Ok<AuditVerificationResponse>> Verify(UnlearnDbContext db, KeyRing keys, CancellationToken cancellationToken) =>
        TypedResults.Ok(await AuditVerification.VerifyAsync(db, keys, cancellationToken));

    static async Task<Ok<List<CheckpointView>>> Checkpoints(UnlearnDbContext db, int limit = 20, CancellationToken cancellationToken = default)
    {
        var rows = await db.AuditCheckpoints.AsNoTracking().OrderByDescending(c => c.TreeSize).Take(Math.Clamp(limit, 1, 100)).ToListAsync(cancellationToken);
        return TypedResults.Ok(rows.Select(CheckpointView.From).ToList());
    }

    static async Task<Results<Ok<CheckpointView>, ProblemHttpResult>> Checkpoint(AuditCheckpointer checkpointer, CancellationToken cancellationToken)
    {
        try
        {
            var record = await checkpointer.CreateAsync(cancellationToken);
            return record is null
                ? TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict", detail: "The audit log is empty.")
                : TypedResults.Ok(CheckpointView.From(record));
        }
        catch (AuditTrailBrokenException e)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Audit trail broken", detail: e.Message);
        }
    }
}
