using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hangfire;
using Hangfire.Server;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using TorchSharp;
using UnlearnService.Data;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Runtime;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Certificates;
using UnlearnService.Features.Datasets;
using UnlearnService.Features.Models;
using UnlearnService.Features.Requests;
using UnlearnService.Hosting;
using UnlearnService.Jobs;
using UnlearnService.Storage;
using static TorchSharp.torch;

namespace UnlearnService.Features.Runs;

/// <summary>
/// SSD's importance over the training set of a model version. It does not depend on any request, so it is
/// computed once when the version appears and every SSD request then costs one pass over its forget set.
/// </summary>
internal sealed class ImportanceJob(UnlearnDbContext db, BlobStore blobs, IOptions<WorkerOptions> workers, ILogger<ImportanceJob> logger)
{
    [Queue(JobsSetup.GpuQueue)]
    [AutomaticRetry(Attempts = 2)]
    public async Task ComputeAsync(Guid versionId, PerformContext? context, CancellationToken cancellationToken)
    {
        // On the worker's own device, like a run (one device per worker process).
        var device = JobsSetup.DeviceOfServer(context?.ServerId ?? "") ?? workers.Value.Devices.FirstOrDefault() ?? "auto";
        var version = await db.ModelVersions.AsNoTracking().SingleOrDefaultAsync(v => v.Id == versionId, cancellationToken);
        // Runs start from the current version only: a superseded version's I_D would never be read.
        if (version is null || version.ImportanceBlobPath is not null || version.Status != VersionStatus.Current) return;
        var forgotten = await RunWorkspace.ForgottenInLineageAsync(db, version.ModelId, cancellationToken);
        var stored = await Task.Run(async () =>
        {
            using var workspace = await RunWorkspace.LoadAsync(db, blobs, versionId, TorchRuntime.ResolveDevice(device), cancellationToken);
            var training = Enumerable.Range(0, workspace.Dataset.Count)
                .Where(i => workspace.Dataset.Splits[i] == Split.Train && !forgotten.Contains(workspace.Dataset.SampleIds[i]))
                .Select(i => (long)i).ToList();
            // SSD's default batch: a run with another batch size or LF-SSD computes its own I_D instead.
            var batchSize = new UnlearningSettings().Resolve(UnlearningMethod.Ssd).BatchSize!.Value;
            using var importance = Dampening.Importance(workspace.Loaded.Model, workspace.Data, training, batchSize, labelFree: false, cancellationToken: cancellationToken);
            return await blobs.WriteAsync(version.TenantId, "importance", $"{versionId:N}.safetensors",
                stream => { importance.Write(stream); return Task.CompletedTask; }, cancellationToken);
        }, cancellationToken);
        await db.ModelVersions.Where(v => v.Id == versionId).ExecuteUpdateAsync(s => s.SetProperty(v => v.ImportanceBlobPath, stored.Path), cancellationToken);
        logger.LogInformation("SSD importance of version {VersionId} cached", versionId);
    }
}

/// <summary>
/// Deletes forgotten samples' features from the service's dataset storage once every model trained on the
/// dataset has forgotten them (until then a model that still holds them may need them to unlearn). Their ids are
/// replaced by salted hashes, in the sample index, in the runs' records and in the completed requests' targets
/// (a subject's id once none of its samples is left): the evidence stays, the data goes.
/// </summary>
internal sealed class PurgeJob(UnlearnDbContext db, BlobStore blobs, ILogger<PurgeJob> logger)
{
    [Queue(JobsSetup.DefaultQueue)]
    [DisableConcurrentExecution(timeoutInSeconds: 600)]
    public async Task PurgeAsync(Guid datasetId, CancellationToken cancellationToken)
    {
        var dataset = await db.Datasets.SingleAsync(d => d.Id == datasetId, cancellationToken);
        var models = await db.Models.Where(m => m.DatasetId == datasetId).Select(m => m.Id).ToListAsync(cancellationToken);
        HashSet<string>? purge = null;
        foreach (var model in models)
        {
            var forgotten = await RunWorkspace.ForgottenInLineageAsync(db, model, cancellationToken);
            if (purge is null) purge = forgotten;
            else purge.IntersectWith(forgotten);
        }
        var samples = purge is { Count: > 0 }
            ? await db.DatasetSamples.Where(s => s.DatasetId == datasetId && s.SampleId != null).ToListAsync(cancellationToken)
            : [];
        var targets = samples.Where(s => purge!.Contains(s.SampleId!)).ToList();
        if (targets.Count == 0) return;

        // Rewrite the blob without those samples, then update the index in one transaction.
        var oldPath = dataset.BlobPath;
        var stored = await Task.Run(async () =>
        {
            Dataset kept;
            await using (var stream = blobs.OpenRead(oldPath))
            using (var full = DatasetBlob.Read(stream, dataset.ClassCount))
            {
                var remove = targets.Select(t => t.SampleId!).ToHashSet(StringComparer.Ordinal);
                kept = full.Select(Enumerable.Range(0, full.Count).Where(i => !remove.Contains(full.SampleIds[i])).Select(i => (long)i).ToList());
            }
            using (kept)
                return await blobs.WriteAsync(dataset.TenantId, "datasets", $"{datasetId:N}-{Guid.NewGuid():N}.safetensors",
                    stream => { DatasetBlob.Write(stream, kept); return Task.CompletedTask; }, cancellationToken);
        }, cancellationToken);

        byte[] Salted(string id) => SHA256.HashData([.. dataset.Salt, .. Encoding.UTF8.GetBytes(id)]);
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        var now = DateTimeOffset.UtcNow;
        var purgedIds = targets.Select(t => t.SampleId!).ToHashSet(StringComparer.Ordinal);
        var subjectsLeft = samples.Where(s => !purgedIds.Contains(s.SampleId!) && s.SubjectId != null).Select(s => s.SubjectId!).ToHashSet(StringComparer.Ordinal);
        var subjectHashes = targets.Where(t => t.SubjectId != null && !subjectsLeft.Contains(t.SubjectId)).Select(t => t.SubjectId!).Distinct()
            .ToDictionary(s => s, s => $"sha256:{Convert.ToHexStringLower(Salted("subject\0" + s))}", StringComparer.Ordinal);
        foreach (var sample in targets)
        {
            var hash = Salted(sample.SampleId!);
            hashes[sample.SampleId!] = $"sha256:{Convert.ToHexStringLower(hash)}";
            sample.SampleIdHash = hash;
            sample.SampleId = null;
            sample.SubjectId = null;
            sample.ForgottenAt = now;
        }
        foreach (var run in await db.Runs.Where(r => models.Contains(r.ModelId) && r.ForgetSampleIdsJson != null).ToListAsync(cancellationToken))
        {
            var ids = JsonSerializer.Deserialize<string[]>(run.ForgetSampleIdsJson!)!;
            run.ForgetSampleIdsJson = JsonSerializer.Serialize(ids.Select(id => hashes.GetValueOrDefault(id, id)));
        }
        var completed = db.RequestModels.Where(m => models.Contains(m.ModelId) && m.Status == RequestStatus.Completed).Select(m => m.RequestId);
        // Only finished requests: a request's other models may still be waiting for a run that reads its targets.
        foreach (var request in await db.DeletionRequests.Where(r => completed.Contains(r.Id) && r.Status == RequestStatus.Completed && r.Kind != "class")
                     .ToListAsync(cancellationToken))
        {
            var ids = JsonSerializer.Deserialize<string[]>(request.TargetsJson)!;
            var replaced = ids.Select(id => (request.Kind == "subjects" ? subjectHashes : hashes).GetValueOrDefault(id, id)).ToArray();
            if (!replaced.SequenceEqual(ids)) request.TargetsJson = JsonSerializer.Serialize(replaced);
        }
        dataset.BlobPath = stored.Path;
        dataset.Sha256 = stored.Sha256;
        dataset.ForgottenCount += targets.Count;
        db.Record(dataset.TenantId, "system", "dataset.samples_purged", "dataset", datasetId, new { count = targets.Count, dataset.Sha256 });
        await db.SaveChangesAsync(cancellationToken);
        blobs.Delete(oldPath);
        logger.LogInformation("Purged {Count} forgotten samples from dataset {DatasetId}", targets.Count, datasetId);
    }
}

/// <summary>
/// At start-up of a worker: registers the recurring audit checkpoint and re-issues everything a crash may have interrupted. Every job it enqueues is
/// re-entrant, so issuing one twice is harmless.
/// </summary>
internal sealed class PipelineRecovery(IServiceProvider services, IBackgroundJobClient jobs, IRecurringJobManager recurring,
    Microsoft.Extensions.Options.IOptions<Keys.EvidenceOptions> evidence, ILogger<PipelineRecovery> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        recurring.AddOrUpdate<AuditCheckpointer>(AuditCheckpointer.RecurringJobId, c => c.RunAsync(CancellationToken.None), evidence.Value.CheckpointCron());
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UnlearnDbContext>();
        if (!(await db.Database.GetPendingMigrationsAsync(cancellationToken)).Any())
        {
            var received = await db.DeletionRequests.Where(r => r.Status == RequestStatus.Received).Select(r => r.Id).ToListAsync(cancellationToken);
            foreach (var id in received) jobs.Enqueue<RequestIntake>(i => i.ValidateJobAsync(id, CancellationToken.None));
            var runs = await db.Runs.Where(r => RunStatus.Unfinished.Contains(r.Status)).Select(r => r.Id).ToListAsync(cancellationToken);
            foreach (var id in runs) jobs.Enqueue<RunExecutor>(e => e.ExecuteAsync(id, null, CancellationToken.None));
            var models = await db.RequestModels.Where(m => m.RunId == null && m.Status == RequestStatus.Queued).Select(m => m.ModelId).Distinct().ToListAsync(cancellationToken);
            foreach (var id in models) jobs.Enqueue<RunPlanner>(p => p.PlanAsync(id, CancellationToken.None));
            var versions = await db.ModelVersions.Where(v => v.Status == VersionStatus.Current && v.ImportanceBlobPath == null).Select(v => v.Id).ToListAsync(cancellationToken);
            foreach (var id in versions) jobs.Enqueue<ImportanceJob>(j => j.ComputeAsync(id, null, CancellationToken.None));
            var uncertified = await db.DeletionRequests
                .Where(r => r.Status == RequestStatus.Completed && db.RequestModels.Any(l => l.RequestId == r.Id && l.Status == RequestStatus.Completed
                    && !db.Certificates.Any(c => c.RequestId == r.Id && c.ModelId == l.ModelId)))
                .Select(r => r.Id).ToListAsync(cancellationToken);
            foreach (var id in uncertified) jobs.Enqueue<CertificateJob>(j => j.IssueAsync(id, CancellationToken.None));
            if (received.Count + runs.Count + models.Count + uncertified.Count > 0)
                logger.LogInformation("Recovery: {Requests} received requests, {Runs} unfinished runs, {Models} models with queued requests, {Uncertified} completed requests without certificates",
                    received.Count, runs.Count, models.Count, uncertified.Count);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
