using TorchSharp;
using UnlearnService.Engine.Benchmarking;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;

namespace UnlearnService.Engine.Tests.Benchmarking;

public sealed class BenchmarkRunnerTests
{
    /// <summary>A small MLP trained on <paramref name="dataset"/>'s training split, with its spec and recipe.</summary>
    static LoadedModel TrainedMlp(Dataset dataset, DeviceData data)
    {
        var spec = new ModelSpec { Architecture = Architecture.Mlp, InputShape = [8], Outputs = 3, Width = 32, Depth = 1 };
        var recipe = new TrainingOptions { Epochs = 10, BatchSize = 32, LearningRate = 0.05 };
        var original = new LoadedModel(ModelZoo.Create(spec, seed: 4), spec, recipe, new Dictionary<string, string>());
        Trainer.Train(original.Model, data, dataset.IndicesOf(Split.Train), recipe);
        return original;
    }

    [Fact]
    public void Run_WithSweepSecondRetrainAndTimingRuns_ComparesEachWithRetrainAndLeavesTheModelAsItWas()
    {
        TorchRuntime.Initialize();
        using var dataset = SyntheticData.Blobs(train: 200, test: 60, validation: 60, spread: 2.0);
        using var data = new DeviceData(dataset, torch.CPU);
        using var original = TrainedMlp(dataset, data);
        var train = dataset.IndicesOf(Split.Train);
        var weights = original.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var importance = Dampening.Importance(original.Model, data, train, 64, labelFree: false);
        var scenario = new BenchmarkScenario("first 20", new ForgetSpec { SampleIds = [.. Enumerable.Range(0, 20).Select(i => $"s{i}")] });
        var options = new BenchmarkOptions
        {
            Methods = [UnlearningMethod.Ssd], Tune = true, Sweep = [UnlearningMethod.Ssd], RetrainTwice = true,
            Timed = [UnlearningMethod.Ssd], TimingRuns = 3,
        };

        var result = BenchmarkRunner.Run(original, data, scenario, options, importance);

        Assert.Equal(ForgetKind.Samples, result.Kind);
        Assert.Null(result.Retrain.AverageGap);
        var other = result.RetrainOtherSeed!;
        Assert.Equal(("other seed", 1L), (other.Variant, other.Settings.Seed));
        Assert.Equal(other.Metrics.AverageGap(result.Retrain.Metrics), other.AverageGap);
        Assert.Equal(["default", "tuned"], result.Methods.Select(m => m.Variant));
        // Only the timed method's default run repeats; its RTE is the median of its runs, Retrain's that of both seeds.
        var timed = result.Methods[0];
        Assert.Equal(3, timed.TimedSeconds.Count);
        Assert.Equal(timed.TimedSeconds.Order().ElementAt(1), timed.Seconds);
        Assert.All(new[] { result.Methods[1], result.Retrain, other }.Concat(result.Sweep), r => Assert.Equal([r.Seconds], r.TimedSeconds));
        Assert.Equal([result.Retrain.Seconds, other.Seconds], result.RetrainTimedSeconds);
        Assert.Equal((result.Retrain.Seconds + other.Seconds) / 2, result.RetrainSeconds, 12);
        var grid = Tuner.DefaultGrid(UnlearningMethod.Ssd, options.Settings).Select(s => s.Alpha);
        Assert.Equal(grid, result.Sweep.Select(r => r.Settings.Alpha));
        Assert.All(result.Sweep, r =>
        {
            Assert.Equal("sweep", r.Variant);
            Assert.Equal(r.Metrics.AverageGap(result.Retrain.Metrics), r.AverageGap);
        });
        // The default α (10) is in the grid, so its sweep row repeats the default run exactly.
        var tenth = result.Sweep.Single(r => r.Settings.Alpha == 10);
        Assert.Equal(result.Methods[0].Metrics.ForgetAccuracy, tenth.Metrics.ForgetAccuracy);
        foreach (var (name, value) in original.Model.state_dict())
            TensorAssert.BitIdentical(weights[name], value, name);
    }

    [Fact]
    public void MedianAndDescribeTimes_OddEvenEmptyAndOneRun()
    {
        Assert.Equal(2.0, BenchmarkRunner.Median([3.0, 1.0, 2.0]));
        Assert.Equal(2.5, BenchmarkRunner.Median([4.0, 1.0, 2.0, 3.0]));
        Assert.Equal(7.0, BenchmarkRunner.Median([7.0]));
        Assert.Throws<ArgumentException>(() => BenchmarkRunner.Median([]));
        Assert.Equal("one run", BenchmarkRunner.DescribeTimes([12.34]));
        Assert.Equal("median of 3 runs: 15.5, 14.9, 13.5 s", BenchmarkRunner.DescribeTimes([15.5, 14.94, 13.46]));
    }

    [Fact]
    public void Run_AMethodDiverges_ReportsItAndFinishesTheScenario()
    {
        TorchRuntime.Initialize();
        using var dataset = SyntheticData.Blobs(train: 200, test: 60, validation: 60, spread: 2.0);
        using var data = new DeviceData(dataset, torch.CPU);
        using var original = TrainedMlp(dataset, data);
        var scenario = new BenchmarkScenario("first 20", new ForgetSpec { SampleIds = [.. Enumerable.Range(0, 20).Select(i => $"s{i}")] });
        // Gradient ascent's only tuning candidate (lr 10) diverges; its default (lr 1e-4) does not.
        var options = new BenchmarkOptions
        {
            Methods = [UnlearningMethod.GradientAscent], Tune = true,
            TuneOptions = new TuneOptions { Candidates = [new UnlearningSettings { LearningRate = 10, Epochs = 300 }] },
        };

        var result = BenchmarkRunner.Run(original, data, scenario, options, new SsdImportance(new Dictionary<string, TorchSharp.torch.Tensor>(), 64, labelFree: false));

        Assert.Equal("default", Assert.Single(result.Methods).Variant);
        var diverged = Assert.Single(result.Diverged);
        Assert.Equal((UnlearningMethod.GradientAscent, "tuning"), (diverged.Method, diverged.Variant));
        Assert.Contains("diverged", diverged.Reason, StringComparison.Ordinal);
    }
}
