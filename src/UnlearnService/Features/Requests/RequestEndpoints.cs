using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hangfire;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UnlearnService.Data;
using UnlearnService.Engine.Methods;
using UnlearnService.Errors;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Runs;
using UnlearnService.Features.Tenants;
using UnlearnService.Features.Webhooks;
using UnlearnService.Hosting;

namespace UnlearnService.Features.Requests;

/// <summary>The body of a deletion request. Give exactly one of subjectIds, sampleIds or class.</summary>
internal sealed record CreateDeletionRequestBody
{
    /// <summary>Data subjects whose training samples must be forgotten.</summary>
    /// <example>["subject-7", "subject-12"]</example>
    public string[]? SubjectIds { get; init; }

    /// <summary>Training samples to forget.</summary>
    /// <example>["train-42"]</example>
    public string[]? SampleIds { get; init; }

    /// <summary>A class to forget (needs modelIds).</summary>
    public int? Class { get; init; }

    /// <summary>The models to unlearn; omitted = every model trained on the subjects or samples.</summary>
    public Guid[]? ModelIds { get; init; }

    /// <summary>auto (SSD, escalating to SalUn, then flagging retraining) or a method: salun, ssd, lf-ssd, rl, ft, ga, l1, retrain.</summary>
    /// <example>auto</example>
    public string? Method { get; init; }

    /// <summary>Why the data must go (at most 2000 characters).</summary>
    /// <example>The data subject withdrew consent.</example>
    public string? Reason { get; init; }

    /// <summary>The legal basis (at most 200 characters).</summary>
    /// <example>GDPR Art. 17(1)(b)</example>
    public string? LegalBasis { get; init; }

    /// <summary>The requester's own reference, e.g. a ticket number (at most 200 characters).</summary>
    /// <example>DSR-2026-0042</example>
    public string? ExternalReference { get; init; }

    /// <summary>Deadline; default 30 days after receipt.</summary>
    public DateTimeOffset? DueAt { get; init; }
}

internal static class RequestEndpoints
{
    public const string IdempotencyHeader = "Idempotency-Key";
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IEndpointRouteBuilder MapRequestEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/deletion-requests").WithTags("Deletion requests");
        group.MapPost("/", Create).WithName("CreateDeletionRequest").RequireAuthorization(Scopes.RequestsWrite)
            .WithSummary("File a deletion request; 202 with its location. Idempotency-Key: same key and body → the original response, other body → 422, still in flight → 409.")
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        group.MapGet("/{id:guid}", Get).WithName("GetDeletionRequest").RequireAuthorization(Scopes.RequestsRead)
            .WithSummary("Status, phase and progress, and per model the run, metrics, verdict and new version.");
        group.MapGet("/", List).WithName("ListDeletionRequests").RequireAuthorization(Scopes.RequestsRead)
            .WithSummary("The tenant's requests, newest first; filter by status, model and receipt time.");
        group.MapPost("/{id:guid}/cancel", Cancel).WithName("CancelDeletionRequest").RequireAuthorization(Scopes.RequestsWrite)
            .WithSummary("Cancel a request that has not finished; its run stops between steps.")
            .ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    static async Task<IResult> Create(CreateDeletionRequestBody body, HttpRequest http, UnlearnDbContext db, RequestIntake intake, IBackgroundJobClient jobs,
        IOptions<PipelineOptions> pipeline, IOptions<LimitsOptions> limits, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        var key = http.Headers[IdempotencyHeader].ToString();
        if (key.Length > 200) throw new ProblemException(StatusCodes.Status400BadRequest, $"{IdempotencyHeader} is longer than 200 characters.");
        var problem = Validate(body, limits.Value);
        if (problem is not null) throw new ProblemException(StatusCodes.Status422UnprocessableEntity, problem);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(body, Json))));

        if (key.Length > 0 && await Replay(db, caller.TenantId, key, hash, cancellationToken) is { } replay) return replay;

        var now = DateTimeOffset.UtcNow;
        var request = new DeletionRequest
        {
            Id = Guid.NewGuid(), TenantId = caller.TenantId, IdempotencyKey = key.Length > 0 ? key : null, BodyHash = hash,
            Kind = body.Class is not null ? "class" : body.SubjectIds is not null ? "subjects" : "samples",
            TargetsJson = JsonSerializer.Serialize(body.SubjectIds ?? body.SampleIds ?? [], Json), ClassLabel = body.Class,
            RequestedModelIdsJson = body.ModelIds is null ? null : JsonSerializer.Serialize(body.ModelIds.Distinct(), Json),
            Method = (body.Method ?? "auto").ToLowerInvariant(), Reason = body.Reason, LegalBasis = body.LegalBasis,
            ExternalReference = body.ExternalReference, Status = RequestStatus.Received, ReceivedAt = now,
            DueAt = body.DueAt ?? now.AddDays(pipeline.Value.DefaultDueDays), CreatedByKeyId = caller.KeyId,
        };
        // Phase 1: the receipt, committed alone, so that the unique key decides between concurrent replays.
        db.DeletionRequests.Add(request);
        db.Record(caller.TenantId, caller.Actor, "request.received", "deletion_request", request.Id, new { request.Kind, request.Method, request.ExternalReference });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException) when (key.Length > 0)
        {
            db.ChangeTracker.Clear();
            return await Replay(db, caller.TenantId, key, hash, cancellationToken)
                ?? throw new ProblemException(StatusCodes.Status409Conflict, "A request with this Idempotency-Key is being processed; retry shortly.");
        }
        // Phase 2: resolve the models and queue the work (re-run by recovery if this process dies now).
        try
        {
            await intake.ValidateAsync(request.Id, caller.Actor, cancellationToken);
        }
        catch
        {
            // The receipt is committed: finish it in the background, so that a retry with the same key gets the
            // outcome within a minute instead of 409 until some worker restarts.
            var id = request.Id;
            jobs.Schedule<RequestIntake>(i => i.ValidateJobAsync(id, CancellationToken.None), TimeSpan.FromSeconds(30));
            throw;
        }
        db.ChangeTracker.Clear();
        return await Respond(db, request.Id, cancellationToken);
    }

    static async Task<IResult?> Replay(UnlearnDbContext db, Guid tenant, string key, string hash, CancellationToken cancellationToken)
    {
        var existing = await db.DeletionRequests.AsNoTracking().SingleOrDefaultAsync(r => r.TenantId == tenant && r.IdempotencyKey == key, cancellationToken);
        if (existing is null) return null;
        if (existing.BodyHash != hash)
            throw new ProblemException(StatusCodes.Status422UnprocessableEntity, $"{IdempotencyHeader} '{key}' was used with a different body.");
        if (existing.Status == RequestStatus.Received)
            throw new ProblemException(StatusCodes.Status409Conflict, "A request with this Idempotency-Key is still being processed; retry shortly.");
        return await Respond(db, existing.Id, cancellationToken);
    }

    /// <summary>The response a create (or its replay) gets: 202 with the request, or 422 when it was rejected.</summary>
    static async Task<IResult> Respond(UnlearnDbContext db, Guid id, CancellationToken cancellationToken)
    {
        var view = await RequestView.LoadAsync(db, id, cancellationToken);
        if (view!.Status == RequestStatus.Rejected)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Request rejected", detail: view.FailureReason,
                extensions: new Dictionary<string, object?> { ["requestId"] = id });
        }
        return TypedResults.Accepted($"/v1/deletion-requests/{id}", view);
    }

    static string? Validate(CreateDeletionRequestBody body, LimitsOptions limits)
    {
        var given = (body.SubjectIds is not null ? 1 : 0) + (body.SampleIds is not null ? 1 : 0) + (body.Class is not null ? 1 : 0);
        if (given != 1) return "Give exactly one of subjectIds, sampleIds or class.";
        var ids = body.SubjectIds ?? body.SampleIds;
        if (ids is not null)
        {
            if (ids.Length == 0) return "The id list is empty.";
            if (ids.Length > limits.MaxIdsPerRequest) return $"At most {limits.MaxIdsPerRequest} ids per request.";
            if (ids.Any(id => string.IsNullOrWhiteSpace(id) || id.Length > 200)) return "Every id must be 1 to 200 characters.";
        }
        if (body.Class is < 0) return "class must be ≥ 0.";
        if (body.Reason is { Length: > 2000 }) return "reason is longer than 2000 characters.";
        if (body.LegalBasis is { Length: > 200 }) return "legalBasis is longer than 200 characters.";
        if (body.ExternalReference is { Length: > 200 }) return "externalReference is longer than 200 characters.";
        if (body.Class is not null && body.ModelIds is not { Length: > 0 }) return "Class forgetting needs modelIds.";
        if (body.ModelIds is { Length: 0 }) return "modelIds is empty; omit it to mean every model trained on the data.";
        if (body.ModelIds is { Length: > 1000 }) return "At most 1000 models per request.";
        if (body.Method is { } method && method != "auto" && !UnlearningMethodNames.TryParse(method, out _))
            return $"method '{method}' is not auto, salun, ssd, lf-ssd, rl, ft, ga, l1 or retrain.";
        if (body.DueAt is { } due && due < DateTimeOffset.UtcNow.AddMinutes(-1)) return "dueAt is in the past.";
        return null;
    }

    static async Task<Results<Ok<RequestView>, NotFound>> Get(Guid id, UnlearnDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(user).TenantId;
        if (!await db.DeletionRequests.AnyAsync(r => r.Id == id && r.TenantId == tenant, cancellationToken)) return TypedResults.NotFound();
        return TypedResults.Ok((await RequestView.LoadAsync(db, id, cancellationToken))!);
    }

    static async Task<Results<Ok<Page<RequestSummary>>, ValidationProblem>> List(UnlearnDbContext db, ClaimsPrincipal user,
        string? status = null, Guid? modelId = null, DateTimeOffset? receivedFrom = null, DateTimeOffset? receivedTo = null,
        int page = 1, int pageSize = 50, CancellationToken cancellationToken = default)
    {
        if (Paging.Invalid(page, pageSize) is { } error) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["page"] = [error] });
        if (status is not null && !RequestStatus.All.Contains(status))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["status"] = [$"status must be one of {string.Join(", ", RequestStatus.All)}."] });
        var tenant = Caller.From(user).TenantId;
        var query = db.DeletionRequests.AsNoTracking().Where(r => r.TenantId == tenant);
        if (status is not null) query = query.Where(r => r.Status == status);
        if (modelId is not null) query = query.Where(r => db.RequestModels.Any(m => m.RequestId == r.Id && m.ModelId == modelId));
        if (receivedFrom is not null) query = query.Where(r => r.ReceivedAt >= receivedFrom);
        if (receivedTo is not null) query = query.Where(r => r.ReceivedAt < receivedTo);
        return TypedResults.Ok(await query.OrderByDescending(r => r.ReceivedAt).ThenBy(r => r.Id).ToPageAsync(page, pageSize, RequestSummary.From, cancellationToken));
    }

    static async Task<Results<Ok<RequestView>, NotFound, ProblemHttpResult>> Cancel(Guid id, UnlearnDbContext db, IBackgroundJobClient jobs, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        var request = await db.DeletionRequests.SingleOrDefaultAsync(r => r.Id == id && r.TenantId == caller.TenantId, cancellationToken);
        if (request is null) return TypedResults.NotFound();
        if (RequestStatus.Final.Contains(request.Status))
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict", detail: $"The request is already {request.Status}.");
        request.Status = RequestStatus.Cancelled;
        request.Phase = "cancelled";
        request.CompletedAt = DateTimeOffset.UtcNow;
        var links = await db.RequestModels.Where(m => m.RequestId == id).ToListAsync(cancellationToken);
        foreach (var link in links) link.Status = RequestStatus.Cancelled;
        // A run that serves only cancelled requests stops; the executor checks between steps.
        var runIds = links.Where(l => l.RunId is not null).Select(l => l.RunId!.Value).ToList();
        foreach (var run in await db.Runs.Where(r => runIds.Contains(r.Id) && RunStatus.Unfinished.Contains(r.Status)).ToListAsync(cancellationToken))
        {
            var others = await db.RequestModels.AnyAsync(m => m.RunId == run.Id && m.RequestId != id && m.Status != RequestStatus.Cancelled, cancellationToken);
            if (others) continue;
            run.Status = RunStatus.Cancelled;
            db.Record(caller.TenantId, caller.Actor, "run.cancelled", "run", run.Id);
        }
        db.Record(caller.TenantId, caller.Actor, "request.cancelled", "deletion_request", id);
        await WebhookDispatch.QueueAsync(db, request, cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await WebhookDispatch.EnqueuePendingAsync(db, jobs, caller.TenantId, cancellationToken);
        return TypedResults.Ok((await RequestView.LoadAsync(db, id, cancellationToken))!);
    }
}
