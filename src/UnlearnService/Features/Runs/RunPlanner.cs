using Hangfire;
using Microsoft.EntityFrameworkCore;
using UnlearnService.Data;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Models;
using UnlearnService.Features.Requests;
using UnlearnService.Jobs;

namespace UnlearnService.Features.Runs;

/// <summary>
/// Batches a model's queued requests into one run. A model has at most one unfinished run: its successor
/// starts from the version it produces, so the planner runs again when a run finishes. Safe to run twice.
/// </summary>
internal sealed class RunPlanner(UnlearnDbContext db, IBackgroundJobClient jobs, ILogger<RunPlanner> logger)
{
    [Queue(JobsSetup.DefaultQueue)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public async Task PlanAsync(Guid modelId, CancellationToken cancellationToken)
    {
        if (await db.Runs.AnyAsync(r => r.ModelId == modelId && RunStatus.Unfinished.Contains(r.Status), cancellationToken)) return;
        var pending = await (from link in db.RequestModels
                             where link.ModelId == modelId && link.RunId == null && link.Status == RequestStatus.Queued
                             join request in db.DeletionRequests on link.RequestId equals request.Id
                             where request.Status == RequestStatus.Queued || request.Status == RequestStatus.Running
                             orderby request.ReceivedAt
                             select new { link, request }).ToListAsync(cancellationToken);
        if (pending.Count == 0) return;

        // One run forgets one kind of target with one method; other requests wait for the next run.
        var first = pending[0].request;
        var batch = pending.Where(p => p.request.Kind == first.Kind && p.request.Method == first.Method
            && (first.Kind != "class" || p.request.ClassLabel == first.ClassLabel)).ToList();
        var current = await db.ModelVersions.SingleAsync(v => v.ModelId == modelId && v.Status == VersionStatus.Current, cancellationToken);
        var run = new UnlearningRun
        {
            Id = Guid.NewGuid(), TenantId = current.TenantId, ModelId = modelId, BaseVersionId = current.Id, RequestedMethod = first.Method,
            Seed = BitConverter.ToInt32(Guid.NewGuid().ToByteArray(), 0) & 0x7fffffff, Status = RunStatus.Queued, Phase = "queued",
            CreatedAt = DateTimeOffset.UtcNow,
        };
        db.Runs.Add(run);
        foreach (var p in batch)
        {
            p.link.RunId = run.Id;
            p.request.Phase = "queued for a worker";
        }
        db.Record(run.TenantId, "system", "run.created", "run", run.Id,
            new { modelId, baseVersion = current.Number, requests = batch.Select(b => b.request.Id), method = first.Method, run.Seed });
        await db.SaveChangesAsync(cancellationToken);
        jobs.Enqueue<RunExecutor>(e => e.ExecuteAsync(run.Id, null, CancellationToken.None));
        logger.LogInformation("Run {RunId} planned for model {ModelId}: {Count} request(s)", run.Id, modelId, batch.Count);
    }
}
