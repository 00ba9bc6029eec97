using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Benchmarking;

/// <summary>A forgetting scenario of a benchmark.</summary>
/// <param name="Name">Short name, e.g. "random 10%".</param>
/// <param name="Spec">What to forget.</param>
public sealed record BenchmarkScenario(string Name, ForgetSpec Spec);

/// <summary>Which methods a benchmark runs and how.</summary>
public sealed record BenchmarkOptions
{
    /// <summary>Methods compared against Retrain (which always runs).</summary>
    public IReadOnlyList<UnlearningMethod> Methods { get; init; } =
        [UnlearningMethod.FineTune, UnlearningMethod.GradientAscent, UnlearningMethod.RandomLabel, UnlearningMethod.SalUn, UnlearningMethod.Ssd];

    /// <summary>Also run each method with its tuned setting.</summary>
    public bool Tune { get; init; } = true;

    /// <summary>Settings given to every method (seed, and any override such as epochs).</summary>
    public UnlearningSettings Settings { get; init; } = new();

    /// <summary>How tuning searches.</summary>
    public TuneOptions TuneOptions { get; init; } = new();

    /// <summary>Verdict thresholds reported per run.</summary>
    public VerdictThresholds Thresholds { get; init; } = new();

    /// <summary>
    /// Methods whose whole tuning grid also runs on the full retain set and is compared with Retrain: for the report
    /// only, to show whether a target is out of the method's reach or merely missed by the tuner.
    /// </summary>
    public IReadOnlyList<UnlearningMethod> Sweep { get; init; } = [];

    /// <summary>
    /// Also retrain with another seed and report its Avg. Gap to Retrain: the gap that exact unlearning itself shows,
    /// i.e. the noise floor under which no method's gap means anything.
    /// </summary>
    public bool RetrainTwice { get; init; }

    /// <summary>
    /// Methods whose default run is timed <see cref="TimingRuns"/> times (each from the original weights, same seed,
    /// so the same result): RTE is then the median, steadier on a shared machine than one run.
    /// </summary>
    public IReadOnlyList<UnlearningMethod> Timed { get; init; } = [];

    /// <summary>How many times the default runs of <see cref="Timed"/> methods, and the forward+backward pass over Df, are timed.</summary>
    public int TimingRuns { get; init; } = 1;
}

/// <summary>One method's run in a scenario.</summary>
/// <param name="Method">The method.</param>
/// <param name="Variant">"default" or "tuned".</param>
/// <param name="Settings">Resolved settings used.</param>
/// <param name="Metrics">Metrics after unlearning.</param>
/// <param name="Seconds">RTE.</param>
/// <param name="AverageGap">Avg. Gap to Retrain (null for Retrain itself).</param>
/// <param name="Verdict">The verdict against the original model.</param>
/// <param name="Details">Method-specific facts.</param>
/// <param name="Tuning">The search, for tuned variants.</param>
/// <param name="TimedSeconds">Each run's time when the run was repeated for timing (<see cref="Seconds"/> is their median); else one.</param>
public sealed record MethodResult(UnlearningMethod Method, string Variant, UnlearningSettings Settings, UnlearningMetrics Metrics,
    double Seconds, double? AverageGap, Verdict Verdict, IReadOnlyDictionary<string, double> Details, TuneResult? Tuning,
    IReadOnlyList<double> TimedSeconds);

/// <summary>A run of a scenario that diverged (NaN or infinite loss or weights), so it has no metrics.</summary>
/// <param name="Method">The method.</param>
/// <param name="Variant">"default", "tuned" or "sweep"; "tuning" when every candidate of the search diverged.</param>
/// <param name="Settings">The settings it ran with (resolved); for "tuning", the base settings of the search.</param>
/// <param name="Reason">What diverged.</param>
public sealed record DivergedRun(UnlearningMethod Method, string Variant, UnlearningSettings Settings, string Reason);

/// <summary>A scenario's results.</summary>
/// <param name="Name">Scenario name.</param>
/// <param name="Kind">Kind of forgetting.</param>
/// <param name="Original">Metrics of the original model on this partition.</param>
/// <param name="Retrain">The gold standard.</param>
/// <param name="Methods">The other methods, default then tuned.</param>
/// <param name="ForwardBackwardSeconds">One forward+backward pass over Df (batch 64; the median of the timing runs): the unit of SSD's cached cost.</param>
/// <param name="Sweep">Each grid setting of the swept methods, run on the full retain set (variant "sweep").</param>
/// <param name="RetrainOtherSeed">Retrain with the next seed and its gap to <paramref name="Retrain"/> (variant "other seed"), when asked for.</param>
/// <param name="Diverged">Runs that diverged: in none of the lists above.</param>
public sealed record ScenarioResult(string Name, ForgetKind Kind, UnlearningMetrics Original, MethodResult Retrain,
    IReadOnlyList<MethodResult> Methods, double ForwardBackwardSeconds, IReadOnlyList<MethodResult> Sweep, MethodResult? RetrainOtherSeed,
    IReadOnlyList<DivergedRun> Diverged)
{
    /// <summary>The times of the scenario's Retrain runs: both seeds when the noise floor ran (the same work).</summary>
    public IReadOnlyList<double> RetrainTimedSeconds => [.. Retrain.TimedSeconds, .. RetrainOtherSeed?.TimedSeconds ?? []];

    /// <summary>
    /// Retrain's RTE, the denominator of RTE targets: the median of <see cref="RetrainTimedSeconds"/>, so that one slow
    /// run on a shared machine does not decide a target.
    /// </summary>
    public double RetrainSeconds => BenchmarkRunner.Median(RetrainTimedSeconds);
}

/// <summary>Runs scenarios × methods on one trained model, each run starting from the original weights.</summary>
public static class BenchmarkRunner
{
    /// <summary>
    /// Runs one scenario. <paramref name="trainingImportance"/> is SSD's cached I_D for the original model, computed
    /// once by the caller at SSD's default batch size: the same for every scenario of that model version.
    /// </summary>
    public static ScenarioResult Run(LoadedModel original, DeviceData data, BenchmarkScenario scenario, BenchmarkOptions options,
        SsdImportance trainingImportance, Action<string>? log = null, IProgress<EngineProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var partition = ForgetPartition.Resolve(data.Dataset, scenario.Spec);
        var model = original.Model;
        var start = ModelState.Snapshot(model);
        try
        {
            var before = UnlearningMetrics.Measure(model, data, partition.Forget, partition.Retain, partition.Test, cancellationToken);
            var diverged = new List<DivergedRun>();
            MethodResult RunOne(UnlearningMethod method, string variant, UnlearningSettings settings, UnlearningMetrics? retrain, TuneResult? tuning)
            {
                var runs = variant == "default" && options.Timed.Contains(method) ? Math.Max(1, options.TimingRuns) : 1;
                var seconds = new List<double>();
                UnlearningOutcome outcome;
                do
                {
                    ModelState.Restore(model, start);
                    var job = Job(original, data, partition, method == UnlearningMethod.Ssd ? trainingImportance : null);
                    outcome = Unlearner.Run(method, settings, job, progress, cancellationToken);
                    outcome.ComputedTrainingSetImportance?.Dispose();
                    seconds.Add(outcome.Seconds);
                }
                while (seconds.Count < runs);
                var metrics = UnlearningMetrics.Measure(model, data, partition.Forget, partition.Retain, partition.Test, cancellationToken);
                var verdict = Verdict.Judge(before, metrics, partition.Kind, data.Dataset.ClassCount, options.Thresholds);
                log?.Invoke($"{scenario.Name}: {method.ShortName()} ({variant}) UA {metrics.UnlearningAccuracy:F2} RA {metrics.RetainAccuracy:F2} TA {metrics.TestAccuracy:F2} MIA {metrics.Mia.Efficacy:F2} RTE {Median(seconds):F1}s{(runs > 1 ? $" ({DescribeTimes(seconds)})" : "")}");
                return new MethodResult(method, variant, outcome.Settings, metrics, Median(seconds), retrain is null ? null : metrics.AverageGap(retrain),
                    verdict, outcome.Details, tuning, seconds);
            }

            // A method that diverges is reported as such; Retrain diverging leaves nothing to compare with, so that throws.
            void Diverged(UnlearningMethod method, string variant, UnlearningSettings settings, TrainingDivergedException e)
            {
                log?.Invoke($"{scenario.Name}: {method.ShortName()} ({variant}) diverged: {e.Message}");
                diverged.Add(new DivergedRun(method, variant, settings.Resolve(method, original.Recipe), e.Message));
            }
            void TryRunOne(List<MethodResult> into, UnlearningMethod method, string variant, UnlearningSettings settings, UnlearningMetrics retrain, TuneResult? tuning)
            {
                try
                {
                    into.Add(RunOne(method, variant, settings, retrain, tuning));
                }
                catch (TrainingDivergedException e)
                {
                    Diverged(method, variant, settings, e);
                }
            }

            var retrain = RunOne(UnlearningMethod.Retrain, "default", options.Settings, null, null);
            var otherSeed = options.RetrainTwice
                ? RunOne(UnlearningMethod.Retrain, "other seed", options.Settings with { Seed = options.Settings.Seed + 1 }, retrain.Metrics, null)
                : null;
            var results = new List<MethodResult>();
            foreach (var method in options.Methods)
                TryRunOne(results, method, "default", options.Settings, retrain.Metrics, null);
            if (options.Tune)
            {
                foreach (var method in options.Methods)
                {
                    ModelState.Restore(model, start);
                    var job = Job(original, data, partition, method == UnlearningMethod.Ssd ? trainingImportance : null);
                    TuneResult tuning;
                    try
                    {
                        tuning = Tuner.Tune(method, options.Settings, job, partition, options.TuneOptions, progress, cancellationToken);
                    }
                    catch (TrainingDivergedException e)
                    {
                        // Every candidate of the search diverged, so there is no tuned setting to report.
                        Diverged(method, "tuning", options.Settings, e);
                        continue;
                    }
                    log?.Invoke($"{scenario.Name}: {method.ShortName()} tuned → {Describe(tuning.Chosen)} ({(tuning.ChosenPassed ? "passed" : "no candidate passed")}{(tuning.Diverged.Count > 0 ? $"; {tuning.Diverged.Count} diverged" : "")})");
                    TryRunOne(results, method, "tuned", tuning.Chosen, retrain.Metrics, tuning);
                }
            }

            var sweep = new List<MethodResult>();
            foreach (var method in options.Sweep)
                foreach (var setting in Tuner.DefaultGrid(method, options.Settings))
                    TryRunOne(sweep, method, "sweep", setting, retrain.Metrics, null);

            ModelState.Restore(model, start);
            var forwardBackward = Median([.. Enumerable.Range(0, Math.Max(1, options.TimingRuns)).Select(_ => ForwardBackwardSeconds(model, data, partition.Forget))]);
            return new ScenarioResult(scenario.Name, partition.Kind, before, retrain, results, forwardBackward, sweep, otherSeed, diverged);
        }
        finally
        {
            ModelState.Restore(model, start);
            foreach (var t in start.Values) t.Dispose();
        }
    }

    /// <summary>The median (the mean of the middle two for an even count).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("No values.", nameof(values));
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>"median of 3 runs: 18.1, 18.5, 25.0 s", or "one run": a timed figure with what it was taken from.</summary>
    public static string DescribeTimes(IReadOnlyList<double> seconds) => seconds.Count == 1
        ? "one run"
        : $"median of {seconds.Count} runs: {string.Join(", ", seconds.Select(t => t.ToString("F1", CultureInfo.InvariantCulture)))} s";

    /// <summary>The hyperparameter a tuned setting differs in, for logs and tables.</summary>
    public static string Describe(UnlearningSettings s) =>
        s.PassOrder == PassOrder.Shuffled ? $"lr {s.LearningRate:G3}, shuffled, batch {s.BatchSize}"
        : s.MaskRatio is not null || (s.LearningRate is not null && s.Alpha is null) ? $"lr {s.LearningRate:G3}"
        : s.Lambda is not null ? $"α {s.Alpha:G3}"
        : s.Alpha is not null ? $"α {s.Alpha:G3}, lr {s.LearningRate:G3}"
        : "";

    static UnlearningJob Job(LoadedModel original, DeviceData data, ForgetPartition partition, SsdImportance? importance) => new()
    {
        Model = original.Model, Spec = original.Spec, Data = data, Forget = partition.Forget, Retain = partition.Retain,
        Recipe = original.Recipe, TrainingSetImportance = importance,
    };

    /// <summary>Wall-clock time of one forward+backward pass over <paramref name="indices"/> in eval mode, batch 64.</summary>
    public static double ForwardBackwardSeconds(nn.Module<Tensor, Tensor> model, DeviceData data, IReadOnlyList<long> indices)
    {
        model.eval();
        var clock = Stopwatch.StartNew();
        foreach (var batch in Batches.Over(indices, 64, data.Device, generator: null))
        {
            using var batchIndices = batch;
            using var scope = torch.NewDisposeScope();
            model.zero_grad();
            Losses.Supervised(model.forward(data.Features.index_select(0, batch)), data.Targets.index_select(0, batch), data.Task).backward();
        }
        clock.Stop();
        model.zero_grad();
        model.train();
        return clock.Elapsed.TotalSeconds;
    }

}
