using System.Text.Json;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UnlearnService.Data;
using UnlearnService.Engine.Data;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Runs;
using UnlearnService.Hosting;

namespace UnlearnService.Features.Requests;

/// <summary>
/// Turns a received request into work: resolves the models it applies to (explicit, or every model whose
/// training data holds the subjects or samples), then queues it, or rejects it with a reason. Re-entrant: a
/// request that is no longer "received" is left alone.
/// </summary>
internal sealed class RequestIntake(UnlearnDbContext db, IBackgroundJobClient jobs, IOptions<PipelineOptions> pipeline, ILogger<RequestIntake> logger)
{
    public async Task ValidateAsync(Guid requestId, string actor, CancellationToken cancellationToken)
    {
        var request = await db.DeletionRequests.SingleAsync(r => r.Id == requestId, cancellationToken);
        if (request.Status != RequestStatus.Received) return;
        var targets = JsonSerializer.Deserialize<string[]>(request.TargetsJson)!;
        var explicitModels = request.RequestedModelIdsJson is null ? null : JsonSerializer.Deserialize<Guid[]>(request.RequestedModelIdsJson);

        var (models, rejection) = await ResolveModelsAsync(request, targets, explicitModels, cancellationToken);
        if (rejection is not null)
        {
            request.Status = RequestStatus.Rejected;
            request.FailureReason = rejection;
            request.CompletedAt = DateTimeOffset.UtcNow;
            db.Record(request.TenantId, actor, "request.rejected", "deletion_request", request.Id, new { reason = rejection });
            await db.SaveChangesAsync(cancellationToken);
            logger.LogInformation("Request {RequestId} rejected: {Reason}", request.Id, rejection);
            return;
        }
        request.Status = RequestStatus.Queued;
        request.Phase = "waiting for a run";
        foreach (var model in models)
            db.RequestModels.Add(new RequestModel { RequestId = request.Id, ModelId = model, TenantId = request.TenantId, Status = RequestStatus.Queued });
        db.Record(request.TenantId, actor, "request.validated", "deletion_request", request.Id, new { models });
        db.Record(request.TenantId, actor, "request.queued", "deletion_request", request.Id);
        await db.SaveChangesAsync(cancellationToken);
        foreach (var model in models)
        {
            // Hangfire moves scheduled jobs to the queue on a polling interval: enqueue directly when there is no window.
            if (pipeline.Value.BatchWindow == TimeSpan.Zero) jobs.Enqueue<RunPlanner>(p => p.PlanAsync(model, CancellationToken.None));
            else jobs.Schedule<RunPlanner>(p => p.PlanAsync(model, CancellationToken.None), pipeline.Value.BatchWindow);
        }
    }

    async Task<(IReadOnlyList<Guid> Models, string? Rejection)> ResolveModelsAsync(DeletionRequest request, string[] targets, Guid[]? explicitModels, CancellationToken cancellationToken)
    {
        var tenantModels = db.Models.AsNoTracking().Where(m => m.TenantId == request.TenantId);
        if (explicitModels is not null)
        {
            var found = await tenantModels.Where(m => explicitModels.Contains(m.Id)).Select(m => new { m.Id, m.DatasetId }).ToListAsync(cancellationToken);
            var missing = explicitModels.Except(found.Select(f => f.Id)).ToList();
            if (missing.Count > 0) return ([], $"Unknown models: {string.Join(", ", missing)}.");
            if (request.Kind == "class")
            {
                var datasets = found.Select(f => f.DatasetId).Distinct().ToList();
                var classCounts = await db.Datasets.Where(d => datasets.Contains(d.Id)).ToDictionaryAsync(d => d.Id, d => d.ClassCount, cancellationToken);
                var without = found.Where(f => request.ClassLabel >= classCounts[f.DatasetId]).Select(f => f.Id).ToList();
                return without.Count > 0 ? ([], $"Class {request.ClassLabel} does not exist for models {string.Join(", ", without)}.") : (found.Select(f => f.Id).ToList(), null);
            }
            var (holding, known) = await HoldingAsync(request.Kind, targets, found.Select(f => f.DatasetId).Distinct().ToList(), cancellationToken);
            var untouched = found.Where(f => !holding.Contains(f.DatasetId)).Select(f => f.Id).ToList();
            if (untouched.Count > 0) return ([], $"Models {string.Join(", ", untouched)} were not trained on any of these {request.Kind}.");
            return Unknown(request.Kind, targets, known) is { } unknown ? ([], unknown) : (found.Select(f => f.Id).ToList(), null);
        }
        var (datasetsWithTargets, present) = await HoldingAsync(request.Kind, targets,
            await db.Datasets.Where(d => d.TenantId == request.TenantId).Select(d => d.Id).ToListAsync(cancellationToken), cancellationToken);
        var models = await tenantModels.Where(m => datasetsWithTargets.Contains(m.DatasetId)).Select(m => m.Id).ToListAsync(cancellationToken);
        if (models.Count == 0) return ([], $"No model was trained on any of these {request.Kind}.");
        return Unknown(request.Kind, targets, present) is { } absent ? ([], absent) : (models, null);
    }

    /// <summary>
    /// A request is all or nothing: a target in none of the models' training data is a typo or another tenant's id,
    /// and forgetting the rest while certifying the request would mislead.
    /// </summary>
    static string? Unknown(string kind, string[] targets, HashSet<string> known)
    {
        var unknown = targets.Distinct().Where(t => !known.Contains(t)).ToList();
        if (unknown.Count == 0) return null;
        var named = string.Join(", ", unknown.Take(10)) + (unknown.Count > 10 ? $" and {unknown.Count - 10} more" : "");
        return $"Not in the training data of any model in scope ({kind}): {named}.";
    }

    /// <summary>Datasets among <paramref name="candidates"/> whose training samples include one of the targets, and the targets found.</summary>
    async Task<(HashSet<Guid> Datasets, HashSet<string> Found)> HoldingAsync(string kind, string[] targets, List<Guid> candidates, CancellationToken cancellationToken)
    {
        var train = (byte)Split.Train;
        var samples = db.DatasetSamples.AsNoTracking().Where(s => candidates.Contains(s.DatasetId) && s.Split == train);
        var datasets = new HashSet<Guid>();
        var found = new HashSet<string>(StringComparer.Ordinal);
        // Chunks keep the IN lists within what both providers accept.
        foreach (var chunk in targets.Distinct().Chunk(1000))
        {
            var hits = kind == "subjects"
                ? await samples.Where(s => s.SubjectId != null && chunk.Contains(s.SubjectId)).Select(s => new { s.DatasetId, Target = s.SubjectId! }).Distinct().ToListAsync(cancellationToken)
                : await samples.Where(s => s.SampleId != null && chunk.Contains(s.SampleId)).Select(s => new { s.DatasetId, Target = s.SampleId! }).Distinct().ToListAsync(cancellationToken);
            foreach (var hit in hits)
            {
                datasets.Add(hit.DatasetId);
                found.Add(hit.Target);
            }
        }
        return (datasets, found);
    }

    /// <summary>For recovery: a request left in "received" by a crash between its two phases.</summary>
    public async Task ValidateJobAsync(Guid requestId, CancellationToken cancellationToken) => await ValidateAsync(requestId, "system", cancellationToken);
}
