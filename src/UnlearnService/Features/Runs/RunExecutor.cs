using System.Diagnostics;
using System.Text.Json;
using Hangfire;
using Hangfire.Server;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using TorchSharp;
using UnlearnService.Data;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;
using UnlearnService.Evidence;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Certificates;
using UnlearnService.Features.Models;
using UnlearnService.Features.Requests;
using UnlearnService.Features.Webhooks;
using UnlearnService.Hosting;
using UnlearnService.Jobs;
using UnlearnService.Storage;
using static TorchSharp.torch;

namespace UnlearnService.Features.Runs;

/// <summary>
/// Executes one run on the worker's device: claim it, load the base version and the dataset, unlearn
/// (auto: SSD, then SalUn if SSD's verdict fails, then flag for retraining), evaluate before and after, write the
/// new version's blob, then commit the version, the run and the request states in one transaction.
/// Re-entrant: a run that already produced its version only has its follow-ups re-issued; a run held by a live
/// worker is left to it; a run whose worker stopped reporting is taken over.
/// </summary>
internal sealed class RunExecutor(
    IServiceScopeFactory scopes, BlobStore blobs, IBackgroundJobClient jobs, IOptions<PipelineOptions> pipeline,
    IOptions<WorkerOptions> workers, ILogger<RunExecutor> logger)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    [Queue(JobsSetup.GpuQueue)]
    [AutomaticRetry(Attempts = 2, DelaysInSeconds = [10, 30])]
    public async Task ExecuteAsync(Guid runId, PerformContext? context, CancellationToken shutdown)
    {
        var worker = context?.ServerId ?? $"{Environment.MachineName}/{Environment.ProcessId}/{workers.Value.Devices.FirstOrDefault() ?? "cpu"}";
        var deviceName = JobsSetup.DeviceOfServer(worker) ?? workers.Value.Devices.FirstOrDefault() ?? "cpu";
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UnlearnDbContext>();

        var claim = await ClaimAsync(db, runId, worker, shutdown);
        if (claim == Claim.Done)
        {
            await FollowUpAsync(db, runId, shutdown);
            return;
        }
        if (claim == Claim.HeldElsewhere)
        {
            // Look again once the holder's heartbeat would be stale.
            jobs.Schedule<RunExecutor>(e => e.ExecuteAsync(runId, null, CancellationToken.None), pipeline.Value.StaleRunAfter);
            return;
        }
        if (claim == Claim.Gone)
        {
            // Cancelled before it started: requests that arrived for the model meanwhile still need a run.
            if (await db.Runs.AnyAsync(r => r.Id == runId, shutdown)) await FollowUpAsync(db, runId, shutdown);
            return;
        }

        var run = await db.Runs.SingleAsync(r => r.Id == runId, shutdown);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        await using var heartbeat = new RunHeartbeat(scopes, runId, worker, cancel, logger);
        try
        {
            var outcome = await Task.Run(() => Unlearn(db, run, deviceName, heartbeat, cancel.Token), cancel.Token);
            await CommitAsync(db, run, outcome, worker, cancel.Token);
        }
        catch (OperationCanceledException) when (!shutdown.IsCancellationRequested && heartbeat.TakenOver)
        {
            // Another worker holds the run now (this one stopped reporting for a while): it is theirs to finish.
            logger.LogWarning("Run {RunId} was taken over by another worker; this execution stops", runId);
            return;
        }
        catch (OperationCanceledException) when (!shutdown.IsCancellationRequested)
        {
            await FinishAsync(db, runId, RunStatus.Cancelled, RequestStatus.Cancelled, "cancelled", null, worker);
            logger.LogInformation("Run {RunId} cancelled", runId);
            return;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Run {RunId} failed", runId);
            var attempts = await db.Runs.Where(r => r.Id == runId).Select(r => r.Attempts).SingleAsync(CancellationToken.None);
            if (attempts < 3)
            {
                // Release the claim so the retry (or another worker) can take it.
                await db.Runs.Where(r => r.Id == runId && r.ClaimedBy == worker && r.Status == RunStatus.Running)
                    .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, RunStatus.Queued).SetProperty(r => r.ClaimedBy, (string?)null), CancellationToken.None);
                throw;
            }
            await FinishAsync(db, runId, RunStatus.Failed, RequestStatus.Failed, "failed", e.Message, worker);
            return;
        }
        await FollowUpAsync(db, runId, CancellationToken.None);
    }

    enum Claim { Ours, Done, HeldElsewhere, Gone }

    async Task<Claim> ClaimAsync(UnlearnDbContext db, Guid runId, string worker, CancellationToken cancellationToken)
    {
        var stale = DateTimeOffset.UtcNow - pipeline.Value.StaleRunAfter;
        var now = DateTimeOffset.UtcNow;
        var claimed = await db.Runs
            .Where(r => r.Id == runId && r.OutputVersionId == null
                && (r.Status == RunStatus.Queued || (r.Status == RunStatus.Running && (r.HeartbeatAt == null || r.HeartbeatAt < stale))))
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Status, RunStatus.Running)
                .SetProperty(r => r.ClaimedBy, worker)
                .SetProperty(r => r.HeartbeatAt, now)
                .SetProperty(r => r.StartedAt, r => r.StartedAt ?? now)
                .SetProperty(r => r.Attempts, r => r.Attempts + 1)
                .SetProperty(r => r.Phase, "starting"), cancellationToken);
        if (claimed == 1)
        {
            var run = await db.Runs.AsNoTracking().SingleAsync(r => r.Id == runId, cancellationToken);
            await MarkRequestsAsync(db, runId, RequestStatus.Running, "running", cancellationToken);
            db.Record(run.TenantId, $"worker:{worker}", "run.started", "run", runId, new { attempt = run.Attempts });
            await db.SaveChangesAsync(cancellationToken);
            return Claim.Ours;
        }
        var state = await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => new { r.Status, r.OutputVersionId }).SingleOrDefaultAsync(cancellationToken);
        if (state is null) return Claim.Gone;
        if (state.OutputVersionId is not null || state.Status is RunStatus.Completed or RunStatus.NeedsRetraining) return Claim.Done;
        return state.Status == RunStatus.Running ? Claim.HeldElsewhere : Claim.Gone;
    }

    static async Task MarkRequestsAsync(UnlearnDbContext db, Guid runId, string status, string phase, CancellationToken cancellationToken)
    {
        var requestIds = await db.RequestModels.Where(m => m.RunId == runId && m.Status != RequestStatus.Cancelled).Select(m => m.RequestId).ToListAsync(cancellationToken);
        await db.DeletionRequests.Where(r => requestIds.Contains(r.Id) && !RequestStatus.Final.Contains(r.Status))
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, status).SetProperty(r => r.Phase, phase), cancellationToken);
    }

    /// <summary>
    /// One method tried by a run; <paramref name="After"/> is null when the method diverged. <paramref name="Tuning"/> is
    /// the search that chose <paramref name="Settings"/> (null for the method's defaults); <paramref name="NotTuned"/> says
    /// why a failed attempt was not followed by one.
    /// </summary>
    sealed record Attempt(string Method, UnlearningSettings Settings, double Seconds, UnlearningMetrics? After, Verdict Verdict,
        IReadOnlyDictionary<string, double> Details, TuningRecord? Tuning = null, string? NotTuned = null);

    /// <summary>
    /// The bounded search (the engine's <see cref="Tuner"/>) a worker runs after a method's defaults fail: each
    /// candidate judged on Df, a held-out slice of Dr and the validation split, never on T.
    /// </summary>
    sealed record TuningRecord(double Seconds, int HoldoutCount, int ValidationCount, bool ChosenPassed,
        IReadOnlyList<TunedCandidate> Candidates, IReadOnlyList<DivergedCandidate> Diverged);

    /// <summary>One candidate of a search: its settings, whether it passed on the held-out data, its estimates there, and how far it moved the weights.</summary>
    sealed record TunedCandidate(UnlearningSettings Settings, bool Passed, double UtilityLoss, double EstimatedGap, double WeightChange, double Seconds);

    sealed record Outcome(ForgetPartition Partition, IReadOnlyList<string> ForgetIds, UnlearningMetrics Before, IReadOnlyList<Attempt> Attempts,
        Attempt? Accepted, StoredBlob? Blob, string Device);

    /// <summary>The engine part, synchronous on this thread: TorchSharp's dispose scopes are per thread.</summary>
    Outcome Unlearn(UnlearnDbContext db, UnlearningRun run, string deviceName, RunHeartbeat heartbeat, CancellationToken cancellationToken)
    {
        var device = TorchRuntime.ResolveDevice(deviceName);
        using var workspace = RunWorkspace.LoadAsync(db, blobs, run.BaseVersionId, device, cancellationToken).GetAwaiter().GetResult();
        var spec = InTrainingData(ForgetSpecAsync(db, run.Id, cancellationToken).GetAwaiter().GetResult(), workspace.Dataset);
        var forgotten = RunWorkspace.ForgottenInLineageAsync(db, run.ModelId, cancellationToken).GetAwaiter().GetResult();
        var partition = ForgetPartition.Resolve(workspace.Dataset, spec, forgotten);
        var forgetIds = partition.Forget.Select(i => workspace.Dataset.SampleIds[(int)i]).ToList();
        heartbeat.Report("evaluating the base version", 0.02);
        var before = UnlearningMetrics.Measure(workspace.Loaded.Model, workspace.Data, partition.Forget, partition.Retain, partition.Test, cancellationToken);

        var methods = run.RequestedMethod == "auto"
            ? new[] { UnlearningMethod.Ssd, UnlearningMethod.SalUn }
            : [UnlearningMethodNames.TryParse(run.RequestedMethod, out var chosen) ? chosen : throw new InvalidOperationException($"Unknown method {run.RequestedMethod}.")];
        var start = ModelState.Snapshot(workspace.Loaded.Model);
        var attempts = new List<Attempt>();
        try
        {
            for (var i = 0; i < methods.Length; i++)
            {
                var method = methods[i];
                using var cached = method == UnlearningMethod.Ssd ? LoadImportance(db, workspace.Version) : null;
                var job = new UnlearningJob
                {
                    Model = workspace.Loaded.Model, Spec = workspace.Loaded.Spec, Data = workspace.Data, Forget = partition.Forget,
                    Retain = partition.Retain, Recipe = workspace.Recipe, TrainingSetImportance = cached,
                };
                var trial = new Trial(run.Id, run.Seed, job, partition, before, start, workspace.Dataset.ClassCount);
                // Each method's share of the progress: its defaults, then (after a failure) the search and the chosen setting.
                var share = 0.9 / methods.Length;
                var offset = 0.05 + share * i;
                var attempt = Try(trial, method, trial.Defaults, Progress(heartbeat, method, offset, share * 0.2), null, cancellationToken);
                if (!attempt.Verdict.Passed && pipeline.Value.TuneOnFailure)
                {
                    var notTuned = WhyNotTuned(method, partition);
                    attempts.Add(attempt with { NotTuned = notTuned });
                    if (notTuned is not null) continue;
                    attempt = TryTuned(trial, method, heartbeat, offset + share * 0.2, share * 0.8, cancellationToken);
                }
                attempts.Add(attempt);
                if (!attempt.Verdict.Passed) continue;

                heartbeat.Report("writing the new version", 0.97);
                workspace.Loaded.Model.to(torch.CPU);
                // Named per execution: an execution that loses the commit to another must not overwrite the winner's file.
                var blob = blobs.WriteAsync(run.TenantId, "models", $"{run.Id:N}-{Guid.NewGuid():N}.{ModelArchive.Extension(workspace.Loaded.Spec)}",
                    stream => { ModelArchive.Save(stream, workspace.Loaded, workspace.Recipe); return Task.CompletedTask; },
                    cancellationToken).GetAwaiter().GetResult();
                return new Outcome(partition, forgetIds, before, attempts, attempts[^1], blob, device.ToString());
            }
            return new Outcome(partition, forgetIds, before, attempts, null, null, device.ToString());
        }
        finally
        {
            foreach (var t in start.Values) t.Dispose();
        }
    }

    /// <summary>What every attempt of one method in a run starts from and is judged against.</summary>
    sealed record Trial(Guid RunId, long Seed, UnlearningJob Job, ForgetPartition Partition, UnlearningMetrics Before,
        Dictionary<string, Tensor> Start, int ClassCount)
    {
        /// <summary>The method's defaults with the run's seed: the first attempt, and what a search looks past.</summary>
        public UnlearningSettings Defaults => new() { Seed = Seed };
    }

    /// <summary>
    /// Runs <paramref name="method"/> with <paramref name="settings"/> from the base weights and judges it. A diverged
    /// run is a failed attempt like a failed verdict: escalate, never retry it.
    /// </summary>
    Attempt Try(Trial trial, UnlearningMethod method, UnlearningSettings settings, IProgress<EngineProgress> progress, TuningRecord? tuning,
        CancellationToken cancellationToken)
    {
        var (job, partition) = (trial.Job, trial.Partition);
        ModelState.Restore(job.Model, trial.Start);
        var clock = Stopwatch.StartNew();
        UnlearningOutcome? outcome = null;
        try
        {
            outcome = Unlearner.Run(method, settings, job, progress, cancellationToken);
            outcome.ComputedTrainingSetImportance?.Dispose();
            progress.Report(new EngineProgress("evaluating", 1));
            var after = UnlearningMetrics.Measure(job.Model, job.Data, partition.Forget, partition.Retain, partition.Test, cancellationToken);
            var verdict = Verdict.Judge(trial.Before, after, partition.Kind, trial.ClassCount, pipeline.Value.Thresholds);
            logger.LogInformation("Run {RunId}: {Method}{Tuned} verdict {Verdict}", trial.RunId, method.ShortName(), tuning is null ? "" : " (tuned)",
                verdict.Passed ? "pass" : "fail");
            return new Attempt(method.ShortName(), outcome.Settings, outcome.Seconds, after, verdict, outcome.Details, tuning);
        }
        catch (TrainingDivergedException e)
        {
            logger.LogWarning("Run {RunId}: {Method} diverged: {Reason}", trial.RunId, method.ShortName(), e.Message);
            // Its time is the unlearning's alone when only the evaluation found the divergence (outputs overflowed).
            return new Attempt(method.ShortName(), settings.Resolve(method, job.Recipe), outcome?.Seconds ?? clock.Elapsed.TotalSeconds, null,
                Verdict.Diverged(e.Message, pipeline.Value.Thresholds), new Dictionary<string, double>(), tuning);
        }
    }

    /// <summary>
    /// After a method's defaults failed: the engine's bounded search over the rest of its grid (learning rate; α for
    /// SSD), judged on held-out data, then the chosen setting on the whole retain set, judged like any attempt.
    /// </summary>
    Attempt TryTuned(Trial trial, UnlearningMethod method, RunHeartbeat heartbeat, double offset, double share, CancellationToken cancellationToken)
    {
        var job = trial.Job;
        var defaults = trial.Defaults;
        var options = new TuneOptions { Thresholds = pipeline.Value.Thresholds, Seed = trial.Seed, Candidates = Tuner.AlternativesTo(method, defaults, job.Recipe) };
        ModelState.Restore(job.Model, trial.Start);
        var clock = Stopwatch.StartNew();
        TuneResult result;
        try
        {
            result = Tuner.Tune(method, defaults, job, trial.Partition, options, Progress(heartbeat, method, offset, share * 0.8, "tuning: "), cancellationToken);
        }
        catch (TrainingDivergedException e)
        {
            logger.LogWarning("Run {RunId}: tuning {Method} diverged: {Reason}", trial.RunId, method.ShortName(), e.Message);
            var everyOne = e as EveryCandidateDivergedException;
            var none = new TuningRecord(clock.Elapsed.TotalSeconds, everyOne?.HoldoutCount ?? 0, trial.Partition.Validation.Length, false, [],
                everyOne?.Diverged ?? []);
            return new Attempt(method.ShortName(), defaults.Resolve(method, job.Recipe), clock.Elapsed.TotalSeconds, null,
                Verdict.Diverged(e.Message, pipeline.Value.Thresholds), new Dictionary<string, double>(), none);
        }
        var tuning = new TuningRecord(clock.Elapsed.TotalSeconds, result.HoldoutCount, result.ValidationCount, result.ChosenPassed,
            [.. result.Candidates.Select(c => new TunedCandidate(c.Settings, c.Verdict.Passed, c.UtilityLoss, c.EstimatedGap, c.WeightChange, c.Seconds))], result.Diverged);
        return Try(trial, method, result.Chosen, Progress(heartbeat, method, offset + share * 0.8, share * 0.2, "tuned: "), tuning, cancellationToken);
    }

    /// <summary>Why a failed attempt cannot be followed by a search, or null when it can.</summary>
    static string? WhyNotTuned(UnlearningMethod method, ForgetPartition partition) =>
        !Tuner.CanTune(method) ? $"{method.ShortName()} has nothing to tune"
        : partition.Kind != ForgetKind.Class && partition.Validation.Length == 0
            ? "not tuned: tuning sample or subject forgetting needs a validation split in the dataset (non-members other than the test set)"
            : null;

    static IProgress<EngineProgress> Progress(RunHeartbeat heartbeat, UnlearningMethod method, double offset, double share, string prefix = "") =>
        new SyncProgress(p => heartbeat.Report($"{method.ShortName()}: {prefix}{p.Phase}", offset + share * p.Fraction));

    /// <summary>
    /// The version's cached I_D; null when there is none or it cannot be used. The run then computes its own, and an
    /// unusable cache is dropped and queued for recomputation so that only this run pays for it.
    /// </summary>
    SsdImportance? LoadImportance(UnlearnDbContext db, ModelVersion version)
    {
        if (version.ImportanceBlobPath is not { } path) return null;
        try
        {
            using var stream = blobs.OpenRead(path);
            return SsdImportance.Read(stream);
        }
        catch (Exception e) when (e is SafeTensorsFormatException or FileNotFoundException or DirectoryNotFoundException)
        {
            // Cached before importances recorded their batch size and kind, or lost from storage: slower once, never wrong.
            logger.LogWarning("Cached SSD importance of version {VersionId} not used and queued for recomputation: {Reason}", version.Id, e.Message);
            try
            {
                db.ModelVersions.Where(v => v.Id == version.Id && v.ImportanceBlobPath == path).ExecuteUpdate(s => s.SetProperty(v => v.ImportanceBlobPath, (string?)null));
                var versionId = version.Id;
                jobs.Enqueue<ImportanceJob>(j => j.ComputeAsync(versionId, null, CancellationToken.None));
            }
            catch (Exception queueing)
            {
                // The cache is an optimisation: this run goes on without it, and the next one tries again.
                logger.LogWarning(queueing, "Recomputation of version {VersionId}'s SSD importance could not be queued", version.Id);
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Storage trouble that may pass: this run goes without the cache, which stays for the next.
            logger.LogWarning("Cached SSD importance of version {VersionId} could not be read: {Reason}", version.Id, e.Message);
            return null;
        }
    }

    /// <summary>The union of the run's requests' targets (the planner batches one kind per run).</summary>
    static async Task<ForgetSpec> ForgetSpecAsync(UnlearnDbContext db, Guid runId, CancellationToken cancellationToken)
    {
        var requests = await (from link in db.RequestModels
                              where link.RunId == runId && link.Status != RequestStatus.Cancelled
                              join r in db.DeletionRequests on link.RequestId equals r.Id
                              select r).AsNoTracking().ToListAsync(cancellationToken);
        if (requests.Count == 0) throw new OperationCanceledException("Every request of the run was cancelled.");
        var kind = requests[0].Kind;
        if (kind == "class") return new ForgetSpec { Class = requests[0].ClassLabel };
        var targets = requests.SelectMany(r => JsonSerializer.Deserialize<string[]>(r.TargetsJson)!).Distinct().ToList();
        return kind == "subjects" ? new ForgetSpec { SubjectIds = targets } : new ForgetSpec { SampleIds = targets };
    }

    /// <summary>
    /// The targets this model was trained on. A request over several datasets (subjects in more than one) reaches
    /// each model with all its targets; those in another dataset are not this model's to forget.
    /// </summary>
    static ForgetSpec InTrainingData(ForgetSpec spec, Dataset dataset)
    {
        if (spec.Class is not null) return spec;
        var train = dataset.IndicesOf(Split.Train);
        if (spec.SubjectIds is { } subjects)
        {
            var present = train.Select(i => dataset.SubjectIds[(int)i]).OfType<string>().ToHashSet(StringComparer.Ordinal);
            return spec with { SubjectIds = [.. subjects.Where(present.Contains)] };
        }
        var samples = train.Select(i => dataset.SampleIds[(int)i]).ToHashSet(StringComparer.Ordinal);
        return spec with { SampleIds = [.. spec.SampleIds!.Where(samples.Contains)] };
    }

    async Task CommitAsync(UnlearnDbContext db, UnlearningRun run, Outcome outcome, string worker, CancellationToken cancellationToken)
    {
        var actor = $"worker:{worker}";
        var now = DateTimeOffset.UtcNow;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (!await StillHoldsAsync(db, run.Id, worker, cancelledToo: false, cancellationToken))
        {
            logger.LogWarning("Run {RunId} is no longer held by this worker (cancelled or taken over); discarding this execution's result", run.Id);
            if (outcome.Blob is not null) blobs.Delete(outcome.Blob.Path);
            return;
        }
        run = await db.Runs.SingleAsync(r => r.Id == run.Id, cancellationToken);
        run.ForgetCount = outcome.ForgetIds.Count;
        run.ForgetSampleIdsJson = JsonSerializer.Serialize(outcome.ForgetIds, Json);
        run.MetricsBeforeJson = JsonSerializer.Serialize(outcome.Before, Json);
        run.AttemptsJson = JsonSerializer.Serialize(outcome.Attempts, Json);
        run.Device = outcome.Device;
        run.FinishedAt = now;
        run.Progress = 1;
        var links = await db.RequestModels.Where(m => m.RunId == run.Id && m.Status != RequestStatus.Cancelled).ToListAsync(cancellationToken);

        if (outcome.Accepted is not { } accepted)
        {
            // Every method failed its verdict: the base version stays current; a retrain must be scheduled.
            run.Status = RunStatus.NeedsRetraining;
            run.Phase = "every method failed its verdict";
            var last = outcome.Attempts[^1];
            run.MetricsAfterJson = last.After is null ? null : JsonSerializer.Serialize(last.After, Json);
            run.VerdictJson = JsonSerializer.Serialize(last.Verdict, Json);
            foreach (var link in links) link.Status = RequestStatus.NeedsRetraining;
            db.Record(run.TenantId, actor, "run.needs_retraining", "run", run.Id, new { attempts = outcome.Attempts.Select(a => a.Method) });
        }
        else
        {
            var base_ = await db.ModelVersions.SingleAsync(v => v.Id == run.BaseVersionId, cancellationToken);
            var number = await db.ModelVersions.Where(v => v.ModelId == run.ModelId).MaxAsync(v => v.Number, cancellationToken) + 1;
            var version = new ModelVersion
            {
                Id = Guid.NewGuid(), TenantId = run.TenantId, ModelId = run.ModelId, Number = number, Sha256 = outcome.Blob!.Sha256,
                BlobPath = outcome.Blob.Path, SizeBytes = outcome.Blob.SizeBytes, ParentVersionId = base_.Id, ProducedByRunId = run.Id,
                Status = VersionStatus.Current, CreatedAt = now,
            };
            base_.Status = VersionStatus.Superseded;
            db.ModelVersions.Add(version);
            run.OutputVersionId = version.Id;
            run.Status = RunStatus.Completed;
            run.Phase = "completed";
            run.Method = accepted.Method;
            run.SettingsJson = JsonSerializer.Serialize(accepted.Settings, Json);
            run.RteSeconds = accepted.Seconds;
            run.MetricsAfterJson = JsonSerializer.Serialize(accepted.After, Json);
            run.VerdictJson = JsonSerializer.Serialize(accepted.Verdict, Json);
            // The certificate's commitment, fixed now: the purge that follows replaces these ids by hashes.
            var salt = await (from m in db.Models where m.Id == run.ModelId join d in db.Datasets on m.DatasetId equals d.Id select d.Salt)
                .SingleAsync(cancellationToken);
            var commitment = SaltedIdCommitment.Commit(outcome.ForgetIds, salt);
            run.ForgetCommitmentRoot = commitment.MerkleRoot;
            run.ForgetCommitmentCount = checked((int)commitment.Count);
            foreach (var link in links) link.Status = RequestStatus.Completed;
            db.Record(run.TenantId, actor, "run.completed", "run", run.Id, new { run.Method, outputVersion = number, version.Sha256, run.ForgetCount, passed = true });
            db.Record(run.TenantId, actor, "model_version.created", "model_version", version.Id, new { run.ModelId, number, parent = base_.Number, version.Sha256 });
        }
        await SettleRequestsAsync(db, links.Select(l => l.RequestId).Distinct().ToList(), actor, cancellationToken);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (DbUpdateException) when (outcome.Blob is not null)
        {
            // Another execution of this run committed first (the unique output-version constraint): nothing to do.
            logger.LogWarning("Run {RunId} was committed by another execution; discarding this one's result", run.Id);
            blobs.Delete(outcome.Blob.Path);
        }
    }

    /// <summary>
    /// Inside the caller's transaction: whether <paramref name="worker"/> still holds the run, unfinished. The update
    /// locks the row until the transaction ends, so a takeover or an API cancel waits for this unit of work instead of
    /// interleaving with it.
    /// </summary>
    static async Task<bool> StillHoldsAsync(UnlearnDbContext db, Guid runId, string worker, bool cancelledToo, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        return await db.Runs
            .Where(r => r.Id == runId && r.ClaimedBy == worker && r.OutputVersionId == null
                && (r.Status == RunStatus.Running || (cancelledToo && r.Status == RunStatus.Cancelled)))
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.HeartbeatAt, now), cancellationToken) == 1;
    }

    /// <summary>A request is final once every one of its models is: completed, or the worst outcome among them.</summary>
    internal static async Task SettleRequestsAsync(UnlearnDbContext db, IReadOnlyList<Guid> requestIds, string actor, CancellationToken cancellationToken)
    {
        foreach (var requestId in requestIds)
        {
            var request = await db.DeletionRequests.SingleAsync(r => r.Id == requestId, cancellationToken);
            if (RequestStatus.Final.Contains(request.Status)) continue;
            // Links changed in this unit of work override what the database still holds.
            var tracked = db.RequestModels.Local.Where(m => m.RequestId == requestId).ToDictionary(m => m.ModelId, m => m.Status);
            var stored = await db.RequestModels.AsNoTracking().Where(m => m.RequestId == requestId).Select(m => new { m.ModelId, m.Status }).ToListAsync(cancellationToken);
            var states = stored.Select(m => tracked.GetValueOrDefault(m.ModelId, m.Status)).ToList();
            if (states.Any(s => !RequestStatus.Final.Contains(s))) continue;
            request.Status = states.Contains(RequestStatus.Failed) ? RequestStatus.Failed
                : states.Contains(RequestStatus.NeedsRetraining) ? RequestStatus.NeedsRetraining
                : states.All(s => s == RequestStatus.Cancelled) ? RequestStatus.Cancelled
                : RequestStatus.Completed;
            request.Phase = request.Status;
            request.Progress = 1;
            request.CompletedAt = DateTimeOffset.UtcNow;
            db.Record(request.TenantId, actor, $"request.{request.Status}", "deletion_request", request.Id);
            await WebhookDispatch.QueueAsync(db, request, cancellationToken);
        }
    }

    async Task FinishAsync(UnlearnDbContext db, Guid runId, string runStatus, string linkStatus, string phase, string? error, string worker)
    {
        db.ChangeTracker.Clear();
        await using var transaction = await db.Database.BeginTransactionAsync();
        if (!await StillHoldsAsync(db, runId, worker, cancelledToo: true, CancellationToken.None))
        {
            // Taken over or finished by another execution: its outcome stands.
            logger.LogWarning("Run {RunId} is no longer held by this worker; leaving it as it is", runId);
            return;
        }
        var run = await db.Runs.SingleAsync(r => r.Id == runId);
        run.Status = runStatus;
        run.Phase = phase;
        run.Error = error;
        run.FinishedAt = DateTimeOffset.UtcNow;
        var links = await db.RequestModels.Where(m => m.RunId == runId && m.Status != RequestStatus.Cancelled).ToListAsync();
        foreach (var link in links) link.Status = linkStatus;
        if (error is not null)
        {
            var requestIds = links.Select(l => l.RequestId).ToList();
            foreach (var request in await db.DeletionRequests.Where(r => requestIds.Contains(r.Id)).ToListAsync())
                request.FailureReason = $"Run {runId} failed: {error}";
        }
        db.Record(run.TenantId, $"worker:{worker}", $"run.{runStatus}", "run", runId, error is null ? null : new { error });
        await SettleRequestsAsync(db, links.Select(l => l.RequestId).Distinct().ToList(), $"worker:{worker}", CancellationToken.None);
        await db.SaveChangesAsync();
        await transaction.CommitAsync();
        await FollowUpAsync(db, runId, CancellationToken.None);
    }

    /// <summary>After a run: the next run for the model, importances of the new version, purging, certificates, webhooks. All idempotent.</summary>
    async Task FollowUpAsync(UnlearnDbContext db, Guid runId, CancellationToken cancellationToken)
    {
        var run = await db.Runs.AsNoTracking().SingleAsync(r => r.Id == runId, cancellationToken);
        if (run.OutputVersionId is { } version)
            jobs.Enqueue<ImportanceJob>(j => j.ComputeAsync(version, null, CancellationToken.None));
        var model = await db.Models.AsNoTracking().SingleAsync(m => m.Id == run.ModelId, cancellationToken);
        jobs.Enqueue<PurgeJob>(p => p.PurgeAsync(model.DatasetId, CancellationToken.None));
        jobs.Enqueue<RunPlanner>(p => p.PlanAsync(run.ModelId, CancellationToken.None));
        var completed = await (from m in db.RequestModels
                               where m.RunId == runId
                               join r in db.DeletionRequests on m.RequestId equals r.Id
                               where r.Status == RequestStatus.Completed
                               select r.Id).Distinct().ToListAsync(cancellationToken);
        foreach (var requestId in completed) jobs.Enqueue<CertificateJob>(j => j.IssueAsync(requestId, CancellationToken.None));
        await WebhookDispatch.EnqueuePendingAsync(db, jobs, run.TenantId, cancellationToken);
    }

    sealed class SyncProgress(Action<EngineProgress> report) : IProgress<EngineProgress>
    {
        public void Report(EngineProgress value) => report(value);
    }
}

/// <summary>
/// Writes a run's phase and progress (and its requests') every two seconds, renews the claim's heartbeat, and
/// cancels the run when it or all its requests were cancelled through the API.
/// </summary>
internal sealed class RunHeartbeat : IAsyncDisposable
{
    readonly IServiceScopeFactory _scopes;
    readonly Guid _runId;
    readonly string _worker;
    readonly CancellationTokenSource _cancel;
    readonly ILogger _logger;
    readonly PeriodicTimer _timer = new(TimeSpan.FromSeconds(2));
    readonly Task _loop;
    (string Phase, double Progress) _latest = ("starting", 0);

    /// <summary>The claim was lost to another worker (not cancelled through the API).</summary>
    public bool TakenOver { get; private set; }

    public RunHeartbeat(IServiceScopeFactory scopes, Guid runId, string worker, CancellationTokenSource cancel, ILogger logger)
    {
        _scopes = scopes;
        _runId = runId;
        _worker = worker;
        _cancel = cancel;
        _logger = logger;
        _loop = LoopAsync();
    }

    public void Report(string phase, double progress) => _latest = (phase.Length > 200 ? phase[..200] : phase, Math.Clamp(progress, 0, 1));

    async Task LoopAsync()
    {
        while (await _timer.WaitForNextTickAsync())
        {
            try
            {
                await using var scope = _scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<UnlearnDbContext>();
                var (phase, progress) = _latest;
                var now = DateTimeOffset.UtcNow;
                var updated = await db.Runs.Where(r => r.Id == _runId && r.Status == RunStatus.Running && r.ClaimedBy == _worker)
                    .ExecuteUpdateAsync(s => s.SetProperty(r => r.Phase, phase).SetProperty(r => r.Progress, progress).SetProperty(r => r.HeartbeatAt, now));
                if (updated == 0)
                {
                    // Cancelled through the API, or taken over: stop between steps.
                    TakenOver = await db.Runs.AnyAsync(r => r.Id == _runId && r.ClaimedBy != _worker);
                    _cancel.Cancel();
                    return;
                }
                var requests = db.RequestModels.Where(m => m.RunId == _runId).Select(m => m.RequestId);
                await db.DeletionRequests.Where(r => requests.Contains(r.Id) && r.Status == RequestStatus.Running)
                    .ExecuteUpdateAsync(s => s.SetProperty(r => r.Phase, phase).SetProperty(r => r.Progress, progress));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _logger.LogWarning(e, "Heartbeat of run {RunId} failed", _runId);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _timer.Dispose();
        await _loop;
    }
}
