using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Methods;

/// <summary>Which passing candidate <see cref="Tuner"/> picks.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Formats.EnumNameConverter<TuneObjective>))]
public enum TuneObjective
{
    /// <summary>
    /// The least estimated gap to a retrained model (<see cref="TuneCandidate.EstimatedGap"/>): utility kept and
    /// Df made to look like data never trained on, not merely past the thresholds.
    /// </summary>
    EstimatedGap,

    /// <summary>The least utility loss on the held-out retain slice: the weakest forgetting that passes.</summary>
    UtilityLoss,
}

/// <summary>How <see cref="Tuner"/> searches and judges.</summary>
public sealed record TuneOptions
{
    /// <summary>The thresholds a candidate must meet (the run's verdict thresholds).</summary>
    public VerdictThresholds Thresholds { get; init; } = new();

    /// <summary>
    /// Fraction of the retain set held out from the candidates' updates to judge utility on. SSD and gradient ascent
    /// never update on Dr: they are judged on up to <see cref="MaxHoldout"/> samples of it, none held out.
    /// </summary>
    public double HoldoutFraction { get; init; } = 0.1;

    /// <summary>At most this many held-out retain samples.</summary>
    public int MaxHoldout { get; init; } = 2000;

    /// <summary>Seed of the hold-out draw.</summary>
    public long Seed { get; init; }

    /// <summary>Which passing candidate wins.</summary>
    public TuneObjective Objective { get; init; } = TuneObjective.EstimatedGap;

    /// <summary>Candidates to try; null for the method's default grid (<see cref="Tuner.DefaultGrid"/>).</summary>
    public IReadOnlyList<UnlearningSettings>? Candidates { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first impossible value.</summary>
    public void Validate()
    {
        if (!(HoldoutFraction > 0) || HoldoutFraction >= 1) throw new ArgumentException($"Hold-out fraction {HoldoutFraction} must be in (0, 1).");
        if (MaxHoldout < 1) throw new ArgumentException($"At most {MaxHoldout} held-out samples: must be at least 1.");
        Formats.EnumNames.ThrowIfUndefined(Objective, "Objective");
        if (Candidates is { Count: 0 or > 32 }) throw new ArgumentException($"Give between 1 and 32 candidates, not {Candidates.Count}.");
    }
}

/// <summary>One tried setting and how it was judged.</summary>
/// <param name="Settings">The resolved settings.</param>
/// <param name="Verdict">Verdict on Df, the held-out retain slice and the validation split.</param>
/// <param name="UtilityLoss">Accuracy drop (points) on the held-out retain slice; regression: MSE increase in percent.</param>
/// <param name="EstimatedGap">
/// Avg. Gap to what a retrained model would show, estimated without retraining (<see cref="Tuner.EstimateGap"/>).
/// </param>
/// <param name="Metrics">The candidate's metrics on Df, the held-out retain slice (as RA) and the validation split (as TA).</param>
/// <param name="Seconds">RTE of the candidate.</param>
/// <param name="WeightChange">
/// How far the candidate moved the weights, ‖θ − θ₀‖ / ‖θ₀‖: among candidates judged equal, the one that changed the model least wins.
/// </param>
public sealed record TuneCandidate(UnlearningSettings Settings, Verdict Verdict, double UtilityLoss, double EstimatedGap,
    UnlearningMetrics Metrics, double Seconds, double WeightChange)
{
    /// <summary>Accuracy on Df after the candidate (classification).</summary>
    public double? ForgetAccuracy => Metrics.ForgetAccuracy;
}

/// <summary>A tried setting whose run diverged (NaN or infinite loss or weights): never chosen.</summary>
/// <param name="Settings">The resolved settings.</param>
/// <param name="Reason">What diverged.</param>
public sealed record DivergedCandidate(UnlearningSettings Settings, string Reason);

/// <summary>Every candidate of a search diverged: there is no setting to choose.</summary>
public sealed class EveryCandidateDivergedException(IReadOnlyList<DivergedCandidate> diverged, int holdoutCount)
    : TrainingDivergedException($"Every one of the {diverged.Count} candidates diverged; the first: {diverged[0].Reason}")
{
    /// <summary>The candidates tried, each with what diverged.</summary>
    public IReadOnlyList<DivergedCandidate> Diverged { get; } = diverged;

    /// <summary>Size of the held-out retain slice the candidates would have been judged on.</summary>
    public int HoldoutCount { get; } = holdoutCount;
}

/// <summary>The search's outcome: the chosen setting and every candidate tried.</summary>
/// <param name="Method">The tuned method.</param>
/// <param name="Chosen">The setting to use.</param>
/// <param name="ChosenPassed">Whether the chosen setting met every threshold; otherwise it is the least bad.</param>
/// <param name="Candidates">The candidates that ran to the end, in the order tried.</param>
/// <param name="HoldoutCount">Size of the held-out retain slice.</param>
/// <param name="ValidationCount">Size of the non-member reference set (the validation split).</param>
/// <param name="Objective">How the chosen candidate was picked.</param>
/// <param name="Diverged">The candidates whose run diverged.</param>
public sealed record TuneResult(UnlearningMethod Method, UnlearningSettings Chosen, bool ChosenPassed,
    IReadOnlyList<TuneCandidate> Candidates, int HoldoutCount, int ValidationCount, TuneObjective Objective,
    IReadOnlyList<DivergedCandidate> Diverged);

/// <summary>
/// A small, bounded search over the setting unlearning quality is most sensitive to (the learning rate; α for
/// SSD). Each candidate starts from the same weights and skips a held-out slice H of the retain set (SSD and gradient
/// ascent, which never update on Dr, skip nothing and take H from all of it). It is judged with the run's verdict
/// computed on Df, H (instead of Dr) and the validation split V (instead of T): utility on data the candidate did not
/// train on, forgetting against non-members that are not the test set. Never on T, never on a retrained model. Among
/// the candidates that pass, the least estimated gap to a retrained model wins (or, by choice, the least utility
/// loss); when none passes, the least bad; ties go to the candidate that moved the weights least.
/// </summary>
public static class Tuner
{
    /// <summary>The default candidates for a method (settings not listed keep <paramref name="baseline"/>'s values).</summary>
    public static IReadOnlyList<UnlearningSettings> DefaultGrid(UnlearningMethod method, UnlearningSettings baseline) => method switch
    {
        // ALGORITHMS.md's order (Df, then Dr) over the reference's learning rates, then mixed batches of both: on random
        // forgetting the first Df pass costs more retain accuracy than the Dr passes win back (engine README).
        UnlearningMethod.SalUn or UnlearningMethod.RandomLabel =>
        [
            .. new[] { 0.001, 0.002, 0.003, 0.005, 0.008, 0.013 }.Select(lr => baseline with { LearningRate = lr, PassOrder = PassOrder.Sequential }),
            .. new[] { 0.005, 0.008, 0.013, 0.02 }.Select(lr => baseline with { LearningRate = lr, PassOrder = PassOrder.Shuffled, BatchSize = 128 }),
        ],
        UnlearningMethod.FineTune => [.. new[] { 0.005, 0.01, 0.02, 0.05 }.Select(lr => baseline with { LearningRate = lr })],
        UnlearningMethod.GradientAscent => [.. new[] { 1e-5, 1e-4, 1e-3, 5e-3 }.Select(lr => baseline with { LearningRate = lr })],
        UnlearningMethod.L1Sparse => [.. new[] { 1e-4, 5e-4, 2e-3 }.Select(a => baseline with { Alpha = a })],
        UnlearningMethod.Ssd or UnlearningMethod.SsdLabelFree => [.. new[] { 2.0, 5, 7, 10, 15, 20, 25, 35, 50 }.Select(a => baseline with { Alpha = a })],
        _ => throw new ArgumentException($"{method} has nothing to tune."),
    };

    /// <summary>Whether <see cref="DefaultGrid"/> has candidates for <paramref name="method"/> (Retrain has nothing to tune).</summary>
    public static bool CanTune(UnlearningMethod method) => method != UnlearningMethod.Retrain;

    /// <summary>
    /// The default grid without the setting already tried: the candidates that resolve to other settings than
    /// <paramref name="tried"/> does. For a search after that setting failed.
    /// </summary>
    public static IReadOnlyList<UnlearningSettings> AlternativesTo(UnlearningMethod method, UnlearningSettings tried, TrainingOptions? recipe = null)
    {
        var resolved = tried.Resolve(method, recipe);
        return [.. DefaultGrid(method, tried).Where(c => c.Resolve(method, recipe) != resolved)];
    }

    /// <summary>
    /// Tunes <paramref name="method"/> on <paramref name="job"/>. The job's model is restored to its starting
    /// weights afterwards: run the chosen setting on the full retain set for the real result. A candidate that
    /// diverges is listed in <see cref="TuneResult.Diverged"/> and never chosen.
    /// </summary>
    /// <exception cref="EveryCandidateDivergedException">Every candidate diverged.</exception>
    public static TuneResult Tune(UnlearningMethod method, UnlearningSettings baseline, UnlearningJob job, ForgetPartition partition,
        TuneOptions? options = null, IProgress<EngineProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new TuneOptions();
        options.Validate();
        var candidates = options.Candidates ?? DefaultGrid(method, baseline);
        if (partition.Kind != ForgetKind.Class && partition.Validation.Length == 0)
            throw new ArgumentException("Tuning sample or subject forgetting needs validation-split samples: non-members other than the test set.");

        // H is the MIA's shadow member set and its size n also takes the first n of V as shadow non-members: keep H at
        // most half of V, so that the attack's view of non-members (EstimateGap) comes from samples it never saw.
        var (holdout, retain) = SplitRetain(job.Retain, partition.Validation.Length > 1
            ? options with { MaxHoldout = Math.Min(options.MaxHoldout, partition.Validation.Length / 2) }
            : options, TrainsOnRetain(method));
        var reference = partition.Validation.Length > 0 ? partition.Validation : holdout;
        // Progress in samples passed: SSD's I_D pass over D, when it runs here, outweighs every candidate's pass over Df.
        // The first candidate's batch size stands for all (the grid varies α only); a candidate at another batch size
        // computes its own, kept for any later candidate at that size.
        var ssd = method is UnlearningMethod.Ssd or UnlearningMethod.SsdLabelFree;
        var labelFree = method == UnlearningMethod.SsdLabelFree;
        var importanceBatch = ssd ? candidates[0].Resolve(method, job.Recipe).BatchSize!.Value : 0;
        var computesImportance = ssd && job.TrainingSetImportance?.ComputedLike(importanceBatch, labelFree) != true;
        var start = ModelState.Snapshot(job.Model);
        var results = new List<TuneCandidate>();
        var diverged = new List<DivergedCandidate>();
        var computedImportance = new Dictionary<int, SsdImportance>(); // by batch size, freed at the end
        var importanceWork = computesImportance ? (double)job.Forget.Count + job.Retain.Count : 0;
        var candidateWork = computesImportance ? job.Forget.Count : 1.0;
        var tracker = new ProgressTracker(progress, importanceWork + candidates.Count * candidateWork);
        try
        {
            if (computesImportance)
            {
                // I_D is over all of D (ALGORITHMS.md), H included, and does not depend on α: once, for every candidate.
                tracker.Report("importance: training set");
                computedImportance[importanceBatch] = Dampening.Importance(job.Model, job.Data, job.Forget.Concat(job.Retain).Order().ToList(),
                    importanceBatch, labelFree, n => tracker.Advance("importance: training set", n), cancellationToken);
            }
            // An I_D computed here at the candidate's batch size, else the given one: the run itself uses it only when it
            // matches its batch size and kind, and computes its own otherwise.
            UnlearningJob TuningJob(UnlearningSettings candidate) => new()
            {
                Model = job.Model, Spec = job.Spec, Data = job.Data, Forget = job.Forget, Retain = retain, Recipe = job.Recipe,
                TrainingSetImportance = computedImportance.GetValueOrDefault(candidate.Resolve(method, job.Recipe).BatchSize!.Value)
                    ?? job.TrainingSetImportance,
            };
            var before = UnlearningMetrics.Measure(job.Model, job.Data, job.Forget, holdout, reference, cancellationToken);
            for (var i = 0; i < candidates.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ModelState.Restore(job.Model, start);
                var index = i;
                var candidateProgress = progress is null ? null : new Forward(p => progress.Report(new EngineProgress(
                    $"candidate {index + 1}/{candidates.Count}: {p.Phase}",
                    (importanceWork + (index + p.Fraction) * candidateWork) / (importanceWork + candidates.Count * candidateWork))));
                UnlearningOutcome outcome;
                UnlearningMetrics after;
                try
                {
                    outcome = Unlearner.Run(method, candidates[i], TuningJob(candidates[i]), candidateProgress, cancellationToken);
                    // Kept for later candidates at its batch size.
                    if (outcome.ComputedTrainingSetImportance is { } own && !computedImportance.TryAdd(own.BatchSize, own)) own.Dispose();
                    after = UnlearningMetrics.Measure(job.Model, job.Data, job.Forget, holdout, reference, cancellationToken);
                }
                catch (TrainingDivergedException e)
                {
                    diverged.Add(new DivergedCandidate(candidates[i].Resolve(method, job.Recipe), e.Message));
                    continue;
                }
                var verdict = Verdict.Judge(before, after, partition.Kind, job.Data.Dataset.ClassCount, options.Thresholds);
                var loss = after.RetainAccuracy is { } accuracy
                    ? before.RetainAccuracy!.Value - accuracy
                    : 100 * (after.RetainMse!.Value - before.RetainMse!.Value) / Math.Max(before.RetainMse!.Value, 1e-12);
                results.Add(new TuneCandidate(outcome.Settings, verdict, loss, EstimateGap(before, after, partition.Kind, partition.Validation.Length > 0), after,
                    outcome.Seconds, ModelState.RelativeChange(job.Model, start)));
            }
        }
        finally
        {
            ModelState.Restore(job.Model, start);
            foreach (var t in start.Values) t.Dispose();
            foreach (var importance in computedImportance.Values) importance.Dispose();
        }

        if (results.Count == 0)
            throw new EveryCandidateDivergedException(diverged, holdout.Length);
        var chosen = Choose(results, options.Objective);
        return new TuneResult(method, chosen.Settings, chosen.Verdict.Passed, results, holdout.Length, partition.Validation.Length, options.Objective, diverged);
    }

    /// <summary>
    /// The candidate to use: among those that pass, the least estimated gap (or utility loss); when none passes,
    /// the least estimated gap (or the smallest shortfall from the thresholds). Ties, common on a small held-out
    /// slice where a point is one sample, go to the candidate that changed the weights least.
    /// </summary>
    public static TuneCandidate Choose(IReadOnlyList<TuneCandidate> results, TuneObjective objective)
    {
        var passing = results.Where(r => r.Verdict.Passed).ToList();
        var ranked = (passing.Count > 0, objective) switch
        {
            (true, TuneObjective.UtilityLoss) => passing.OrderBy(r => r.UtilityLoss),
            (true, _) => passing.OrderBy(r => r.EstimatedGap),
            (false, TuneObjective.UtilityLoss) => results.OrderBy(Shortfall),
            (false, _) => results.OrderBy(r => r.EstimatedGap),
        };
        return ranked.ThenBy(r => r.WeightChange).First();
    }

    /// <summary>
    /// Avg. Gap (ALGORITHMS.md) to a model retrained without Df, with the retrained model's figures estimated
    /// from data that is neither T nor a retrained model. <paramref name="before"/> and <paramref name="after"/>
    /// are measured on Df, the held-out retain slice H (as RA) and the validation split V (as TA). A retrained
    /// model keeps the original's utility on H and V; on a forgotten class it has accuracy 0 and MIA-efficacy 100;
    /// forgotten samples and subjects become data it never saw, so its Df accuracy (regression: MSE) is the
    /// original's on V and its MIA-efficacy is the share of V's unseen part that the candidate's own attack calls
    /// non-member. Without V (<paramref name="hasValidation"/> false; class forgetting only) H stood in for V, so
    /// the TA and MIA terms would repeat RA or pit H against itself: the gap is then over UA and RA alone.
    /// </summary>
    public static double EstimateGap(UnlearningMetrics before, UnlearningMetrics after, ForgetKind kind, bool hasValidation = true)
    {
        var test = before.TestAccuracy ?? before.TestMse!.Value;
        var retain = before.RetainAccuracy ?? before.RetainMse!.Value;
        if (kind == ForgetKind.Class && !hasValidation)
            return (Math.Abs(after.ForgetAccuracy!.Value) + Math.Abs(after.RetainAccuracy!.Value - retain)) / 2;
        if (kind == ForgetKind.Class) return after.AverageGap(forget: 0, retain, test, miaEfficacy: 100);
        return after.AverageGap(forget: test, retain, test, miaEfficacy: 100 * (1 - after.Mia.HeldOutTestMemberRate));
    }

    /// <summary>How far a failing candidate is from its thresholds, each criterion scaled by its threshold.</summary>
    static double Shortfall(TuneCandidate candidate) => candidate.Verdict.Criteria
        .Where(c => c.Outcome == CriterionOutcome.Fail)
        .Sum(c => c.Name == "membership"
            ? (c.Threshold - c.Value) / c.Threshold
            : Math.Abs(c.Value - c.Threshold) / Math.Max(Math.Abs(c.Threshold), 1e-9));

    /// <summary>
    /// Whether a method's updates see Dr. SSD and gradient ascent use only Df (and SSD's I_D, which is over all of D
    /// whatever is held out), so nothing needs holding out from them: they are judged on as much of Dr as the cap allows,
    /// which on a small retain set is the difference between judging on a few dozen samples and on all of them.
    /// </summary>
    static bool TrainsOnRetain(UnlearningMethod method) =>
        method is not (UnlearningMethod.Ssd or UnlearningMethod.SsdLabelFree or UnlearningMethod.GradientAscent);

    static (long[] Holdout, long[] Retain) SplitRetain(IReadOnlyList<long> retain, TuneOptions options, bool trainsOnRetain)
    {
        if (retain.Count < (trainsOnRetain ? 2 : 1))
            throw new ArgumentException($"Tuning needs a retain set to judge utility on{(trainsOnRetain ? " and to train on" : "")}: it has {retain.Count} sample(s).");
        var count = trainsOnRetain
            ? (int)Math.Clamp(Math.Round(retain.Count * options.HoldoutFraction), 1, Math.Min(options.MaxHoldout, retain.Count - 1))
            : Math.Min(options.MaxHoldout, retain.Count);
        var random = new Random((int)(options.Seed ^ (options.Seed >> 32)));
        var shuffled = retain.ToArray();
        random.Shuffle(shuffled);
        var holdout = shuffled.Take(count).Order().ToArray();
        if (!trainsOnRetain) return (holdout, retain.ToArray());
        var held = holdout.ToHashSet();
        return (holdout, retain.Where(i => !held.Contains(i)).ToArray());
    }


    sealed class Forward(Action<EngineProgress> report) : IProgress<EngineProgress>
    {
        public void Report(EngineProgress value) => report(value);
    }
}
