using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Methods;

public sealed class UnlearnerTests
{
    static readonly ModelSpec Spec = new() { Architecture = Architecture.Mlp, InputShape = [8], Outputs = 3, Width = 16, Depth = 1 };
    static readonly TrainingOptions Recipe = new() { Epochs = 15, BatchSize = 32, LearningRate = 0.05, Seed = 3 };

    sealed class Fixture : IDisposable
    {
        public Fixture(ModelSpec? spec = null, Dataset? dataset = null)
        {
            TorchRuntime.Initialize();
            Dataset = dataset ?? SyntheticData.Blobs();
            SpecUsed = spec ?? Spec;
            Data = new DeviceData(Dataset, torch.CPU);
            Model = ModelZoo.Create(SpecUsed, seed: 11);
            var train = Dataset.IndicesOf(Split.Train);
            Trainer.Train(Model, Data, train, Recipe);
            Forget = train.Take(24).ToArray();
            Retain = train.Skip(24).ToArray();
        }

        public Dataset Dataset { get; }
        public ModelSpec SpecUsed { get; }
        public DeviceData Data { get; }
        public nn.Module<Tensor, Tensor> Model { get; }
        public long[] Forget { get; }
        public long[] Retain { get; }

        public UnlearningJob Job(SsdImportance? importance = null) => new()
        {
            Model = Model, Spec = SpecUsed, Data = Data, Forget = Forget, Retain = Retain, Recipe = Recipe, TrainingSetImportance = importance,
        };

        public Dictionary<string, Tensor> Snapshot() => Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

        public void Dispose()
        {
            Model.Dispose();
            Data.Dispose();
            Dataset.Dispose();
        }
    }

    [Theory]
    [InlineData("salun", UnlearningMethod.SalUn)]
    [InlineData(" SsdLabelFree ", UnlearningMethod.SsdLabelFree)]
    [InlineData("finetune", UnlearningMethod.FineTune)]
    [InlineData("FineTune, GradientAscent", null)] // Enum.TryParse ORs these into RandomLabel
    [InlineData("3", null)]
    [InlineData("", null)]
    public void UnlearningMethodNames_TryParse_TakesNamesOnly(string name, UnlearningMethod? expected)
    {
        var parsed = UnlearningMethodNames.TryParse(name, out var method);

        Assert.Equal(expected, parsed ? method : null);
    }

    [Theory]
    [InlineData(PassOrder.Sequential, 256)]
    [InlineData(PassOrder.Shuffled, 256)]
    [InlineData(PassOrder.Sequential, 10)]
    public void Run_SalUn_NonSalientEntriesBitIdenticalAndSalientOnesMove(PassOrder order, int batchSize)
    {
        using var f = new Fixture();
        var before = f.Snapshot();
        var settings = new UnlearningSettings { Epochs = 3, MaskRatio = 0.3, Seed = 7, PassOrder = order, BatchSize = batchSize };
        // The run's generator is fresh with the same seed and the mask is its first draw: recompute the same mask. The
        // saliency pass takes batches of 256 whatever the update's batch size (ALGORITHMS.md).
        var mask = MaskFromFreshGenerator(f, 7, Saliency.BatchSize);
        if (batchSize != Saliency.BatchSize)
        {
            // Batches of 10, 10 and 4 weigh Df's samples unevenly: a mask from them differs, so the run shows which it used.
            var other = MaskFromFreshGenerator(f, 7, batchSize);
            Assert.Contains(mask.Zip(other), pair => !TensorAssert.Identical(pair.First, pair.Second));
        }

        var outcome = Unlearner.Run(UnlearningMethod.SalUn, settings, f.Job());

        var names = f.Model.named_parameters().Select(p => p.name).ToArray();
        long moved = 0, frozen = 0;
        for (var i = 0; i < names.Length; i++)
        {
            var after = f.Model.state_dict()[names[i]];
            var keep = mask[i].logical_not();
            TensorAssert.BitIdentical(before[names[i]].masked_select(keep), after.masked_select(keep), $"frozen entries of {names[i]}");
            frozen += keep.sum().item<long>();
            moved += before[names[i]].masked_select(keep.logical_not()).ne(after.masked_select(keep.logical_not())).sum().item<long>();
        }
        var total = (long)outcome.Details["total_entries"];
        Assert.Equal((long)Math.Floor(0.3 * total), (long)outcome.Details["salient_entries"]);
        Assert.Equal(total - (long)Math.Floor(0.3 * total), frozen);
        Assert.True(moved > 0.9 * outcome.Details["salient_entries"], $"only {moved} salient entries moved");
    }

    static Tensor[] MaskFromFreshGenerator(Fixture f, ulong seed, int batchSize)
    {
        using var generator = new Generator(seed, torch.CPU);
        return Saliency.Mask(f.Model, f.Data, f.Forget, 0.3, batchSize, generator, null, null, CancellationToken.None);
    }

    [Fact]
    public void FromSaliency_GlobalRanking_SelectsExactlyTopEntriesAcrossParameters()
    {
        using var a = torch.tensor(new float[] { 0.1f, -5f, 0.3f, 2f });
        using var b = torch.tensor(new float[,] { { 4f, -0.2f }, { 1f, 1f }, { 1f, 0f } });
        // |values| in order: 0.1 5 0.3 2 | 4 0.2 1 1 1 0 → N = 10, r = 0.45 → top 4: 5, 4, 2 and the first 1 (ties by position).

        var masks = Saliency.FromSaliency([a, b], 0.45);

        Assert.Equal(new float[] { 0, 1, 0, 1 }, TensorAssert.Values(masks[0]));
        Assert.Equal(new float[] { 1, 0, 1, 0, 0, 0 }, TensorAssert.Values(masks[1]));
        Assert.Equal([3L, 2L], masks[1].shape);
    }

    [Theory]
    [InlineData(0.57, 57)] // 0.57 × 100 is 56.99999999999999 in double arithmetic
    [InlineData(0.29, 29)]
    [InlineData(0.5, 50)]
    [InlineData(1.0, 100)]
    [InlineData(0.009, 0)]
    public void FromSaliency_RatioTimesEntries_KeepsExactlyTheFloor(double ratio, int expected)
    {
        using var saliency = torch.arange(100, ScalarType.Float32).reshape(10, 10);

        var masks = Saliency.FromSaliency([saliency], ratio);

        Assert.Equal(expected, (int)masks[0].sum().item<float>());
        masks[0].Dispose();
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.5)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void FromSaliency_RatioOutsideZeroToOne_Refused(double ratio)
    {
        using var saliency = torch.arange(100, ScalarType.Float32);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Saliency.FromSaliency([saliency], ratio));

        Assert.Contains("(0, 1]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(PassOrder.Sequential)]
    [InlineData(PassOrder.Shuffled)]
    public void Run_SameSeedTwice_SameWeights(PassOrder order)
    {
        using var first = new Fixture();
        using var second = new Fixture();
        var settings = new UnlearningSettings { Epochs = 2, Seed = 99, PassOrder = order };

        Unlearner.Run(UnlearningMethod.SalUn, settings, first.Job());
        Unlearner.Run(UnlearningMethod.SalUn, settings, second.Job());

        foreach (var (name, value) in first.Model.state_dict())
            TensorAssert.BitIdentical(value, second.Model.state_dict()[name], name);
    }

    [Fact]
    public void Run_ShuffledPassOrder_OnePassOverBothSetsPerEpochWithRandomLabelsOnlyOnTheForgetSet()
    {
        using var sequential = new Fixture();
        using var shuffled = new Fixture();
        // Batches of 16: 24 forget and 216 retain samples take 2 + 14 steps one set after the other, 15 mixed. A high
        // learning rate, so that the random labels show on these well-separated blobs.
        var settings = new UnlearningSettings { Epochs = 12, LearningRate = 0.1, BatchSize = 16, Seed = 4 };
        var steps = new Dictionary<PassOrder, List<string>> { [PassOrder.Sequential] = [], [PassOrder.Shuffled] = [] };

        Unlearner.Run(UnlearningMethod.RandomLabel, settings with { PassOrder = PassOrder.Sequential }, sequential.Job(),
            new SyncProgress(p => steps[PassOrder.Sequential].Add(p.Phase)));
        var forgetBefore = Predictions.Of(shuffled.Model, shuffled.Data, shuffled.Forget);
        var retainBefore = Predictions.Of(shuffled.Model, shuffled.Data, shuffled.Retain);
        Unlearner.Run(UnlearningMethod.RandomLabel, settings with { PassOrder = PassOrder.Shuffled }, shuffled.Job(),
            new SyncProgress(p => steps[PassOrder.Shuffled].Add(p.Phase)));

        Assert.Equal(12 * 16, steps[PassOrder.Sequential].Count);
        Assert.Equal(12 * 2, steps[PassOrder.Sequential].Count(p => p.EndsWith("forget set", StringComparison.Ordinal)));
        Assert.Equal(12 * 15, steps[PassOrder.Shuffled].Count);
        Assert.Equal(15, steps[PassOrder.Shuffled].Count(p => p == "epoch 1/12"));
        // The random labels land on Df alone: the loss on Df rises many times over while Dr keeps its accuracy and low loss.
        var forget = Predictions.Of(shuffled.Model, shuffled.Data, shuffled.Forget);
        var retain = Predictions.Of(shuffled.Model, shuffled.Data, shuffled.Retain);
        var figures = $"Df: accuracy {forget.AccuracyPercent:F1}%, loss {forgetBefore.MeanLoss:G3} → {forget.MeanLoss:G3}; Dr: accuracy {retain.AccuracyPercent:F1}%, loss {retainBefore.MeanLoss:G3} → {retain.MeanLoss:G3}";
        Assert.True(forget.MeanLoss > 100 * forgetBefore.MeanLoss && forget.MeanLoss > 2 * retain.MeanLoss, figures);
        Assert.True(retain.AccuracyPercent > 90 && forget.AccuracyPercent < retain.AccuracyPercent - 10, figures);
    }

    [Fact]
    public void Dampen_LinearModel_MatchesHandComputedSsd()
    {
        // A linear softmax model: the gradient of mean CE is mean((softmax(Wx+b) − onehot(y)) ⊗ x), computable by hand.
        var spec = new ModelSpec { Architecture = Architecture.Mlp, InputShape = [2], Outputs = 2, Depth = 0 };
        float[][] x = [[1f, 2f], [-1f, 0.5f], [0.5f, -1.5f], [2f, 1f]];
        long[] y = [0, 1, 1, 0];
        using var dataset = new Dataset(torch.tensor(x.SelectMany(r => r).ToArray(), [4, 2]), torch.tensor(y),
            ["a", "b", "c", "d"], [null, null, null, null], [Split.Train, Split.Train, Split.Train, Split.Train], TaskKind.Classification, 2);
        using var data = new DeviceData(dataset, torch.CPU);
        using var model = ModelZoo.Create(spec, seed: 1);
        double[,] w = { { 1.0, -1.0 }, { 0.5, 2.0 } };
        double[] b = [0.1, -0.2];
        using (torch.no_grad())
        {
            model.state_dict()["fc1.weight"].copy_(torch.tensor(new float[] { 1f, -1f, 0.5f, 2f }, [2, 2]));
            model.state_dict()["fc1.bias"].copy_(torch.tensor(new float[] { 0.1f, -0.2f }));
        }

        (double[,] W, double[] B) Gradient(int[] samples)
        {
            var gw = new double[2, 2];
            var gb = new double[2];
            foreach (var s in samples)
            {
                var z = new[] { w[0, 0] * x[s][0] + w[0, 1] * x[s][1] + b[0], w[1, 0] * x[s][0] + w[1, 1] * x[s][1] + b[1] };
                var max = Math.Max(z[0], z[1]);
                var e = z.Select(v => Math.Exp(v - max)).ToArray();
                for (var k = 0; k < 2; k++)
                {
                    var d = e[k] / e.Sum() - (y[s] == k ? 1 : 0);
                    gb[k] += d / samples.Length;
                    for (var j = 0; j < 2; j++) gw[k, j] += d * x[s][j] / samples.Length;
                }
            }
            return (gw, gb);
        }

        var (allW, allB) = Gradient([0, 1, 2, 3]); // one batch of 64 covers D
        var (forgetW, forgetB) = Gradient([0, 3]);
        const double alpha = 3, lambda = 0.8;
        double Expected(double theta, double iD, double iDf) => iDf > alpha * iD ? theta * Math.Min(lambda * iD / iDf, 1) : theta;

        using var importanceD = Dampening.Importance(model, data, [0, 1, 2, 3], 64, labelFree: false);
        using var importanceDf = Dampening.Importance(model, data, [0, 3], 64, labelFree: false);
        var dampened = Dampening.Dampen(model, importanceDf.Tensors, importanceD.Tensors, alpha, lambda);

        var newW = TensorAssert.Values(model.state_dict()["fc1.weight"]);
        var newB = TensorAssert.Values(model.state_dict()["fc1.bias"]);
        var expectedCount = 0;
        for (var k = 0; k < 2; k++)
        {
            Assert.Equal(allB[k] * allB[k], TensorAssert.Values(importanceD.Tensors["fc1.bias"])[k], 5);
            Assert.Equal(Expected(b[k], allB[k] * allB[k], forgetB[k] * forgetB[k]), newB[k], 5);
            expectedCount += forgetB[k] * forgetB[k] > alpha * allB[k] * allB[k] ? 1 : 0;
            for (var j = 0; j < 2; j++)
            {
                Assert.Equal(Expected(w[k, j], allW[k, j] * allW[k, j], forgetW[k, j] * forgetW[k, j]), newW[k * 2 + j], 5);
                expectedCount += forgetW[k, j] * forgetW[k, j] > alpha * allW[k, j] * allW[k, j] ? 1 : 0;
            }
        }
        Assert.Equal(expectedCount, dampened);
        Assert.InRange(expectedCount, 1, 5); // the case dampens some entries and leaves others
    }

    [Fact]
    public void Dampen_ZeroTrainingImportance_ZeroesSelectedEntriesWithoutNaN()
    {
        var spec = new ModelSpec { Architecture = Architecture.Mlp, InputShape = [2], Outputs = 2, Depth = 0 };
        using var model = ModelZoo.Create(spec, seed: 1);
        var zeros = model.named_parameters().ToDictionary(p => p.name, p => torch.zeros_like(p.parameter));
        var forget = model.named_parameters().ToDictionary(p => p.name, p => torch.ones_like(p.parameter));
        forget["fc1.bias"] = torch.zeros(2); // I_Df = 0 = I_D: not selected (strict), untouched

        var before = TensorAssert.Values(model.state_dict()["fc1.bias"]);
        Dampening.Dampen(model, forget, zeros, alpha: 10, lambda: 1);

        Assert.All(TensorAssert.Values(model.state_dict()["fc1.weight"]), v => Assert.Equal(0f, v));
        Assert.Equal(before, TensorAssert.Values(model.state_dict()["fc1.bias"]));
    }

    [Fact]
    public void Run_SsdWithCachedImportance_EqualsUncachedAndSkipsTrainingPass()
    {
        using var uncached = new Fixture();
        using var cached = new Fixture();
        var progress = new List<EngineProgress>();

        var first = Unlearner.Run(UnlearningMethod.Ssd, new UnlearningSettings(), uncached.Job());
        var second = Unlearner.Run(UnlearningMethod.Ssd, new UnlearningSettings(), cached.Job(first.ComputedTrainingSetImportance),
            new SyncProgress(progress.Add));

        Assert.NotNull(first.ComputedTrainingSetImportance);
        Assert.Null(second.ComputedTrainingSetImportance);
        Assert.Equal(1, second.Details["importance_cached"]);
        Assert.DoesNotContain(progress, p => p.Phase.Contains("training set", StringComparison.Ordinal));
        foreach (var (name, value) in uncached.Model.state_dict())
            TensorAssert.BitIdentical(value, cached.Model.state_dict()[name], name);
        first.ComputedTrainingSetImportance!.Dispose();
    }

    [Theory]
    [InlineData(32, false)] // another batch size: batch-mean gradients squared on another scale
    [InlineData(64, true)]  // LF-SSD's importances for a Fisher run
    public void Run_SsdWithImportanceComputedOtherwise_ComputesItsOwnAndEqualsUncached(int cachedBatch, bool cachedLabelFree)
    {
        using var uncached = new Fixture();
        using var mismatched = new Fixture();
        using var other = Dampening.Importance(mismatched.Model, mismatched.Data, mismatched.Forget.Concat(mismatched.Retain).Order().ToList(),
            cachedBatch, cachedLabelFree);

        var first = Unlearner.Run(UnlearningMethod.Ssd, new UnlearningSettings(), uncached.Job());
        var second = Unlearner.Run(UnlearningMethod.Ssd, new UnlearningSettings(), mismatched.Job(other));

        Assert.Equal(0, second.Details["importance_cached"]);
        Assert.NotNull(second.ComputedTrainingSetImportance);
        Assert.True(second.ComputedTrainingSetImportance!.ComputedLike(64, labelFree: false));
        foreach (var (name, value) in uncached.Model.state_dict())
            TensorAssert.BitIdentical(value, mismatched.Model.state_dict()[name], name);
        first.ComputedTrainingSetImportance!.Dispose();
        second.ComputedTrainingSetImportance.Dispose();
    }

    [Fact]
    public void SsdImportance_WriteThenRead_SameTensorsBatchAndKind_AndUnlabelledFilesRefused()
    {
        using var f = new Fixture();
        using var importance = Dampening.Importance(f.Model, f.Data, f.Forget, 16, labelFree: true);
        using var stream = new MemoryStream();
        importance.Write(stream);
        stream.Position = 0;

        using var read = SsdImportance.Read(stream);

        Assert.True(read.ComputedLike(16, labelFree: true));
        Assert.Equal(importance.Tensors.Keys.Order(), read.Tensors.Keys.Order());
        foreach (var (name, value) in importance.Tensors)
            TensorAssert.BitIdentical(value, read.Tensors[name], name);

        using var bare = new MemoryStream();
        SafeTensors.WriteStateDict(bare, importance.Tensors);
        bare.Position = 0;
        var error = Assert.Throws<SafeTensorsFormatException>(() => SsdImportance.Read(bare));
        Assert.Contains("batch size", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(UnlearningMethod.Retrain)]
    [InlineData(UnlearningMethod.FineTune)]
    [InlineData(UnlearningMethod.GradientAscent)]
    [InlineData(UnlearningMethod.RandomLabel)]
    [InlineData(UnlearningMethod.L1Sparse)]
    [InlineData(UnlearningMethod.SalUn)]
    [InlineData(UnlearningMethod.Ssd)]
    [InlineData(UnlearningMethod.SsdLabelFree)]
    public void Run_EachMethod_ChangesWeightsReportsProgressToOneAndResolvesSettings(UnlearningMethod method)
    {
        using var f = new Fixture();
        var before = f.Snapshot();
        var progress = new List<EngineProgress>();

        // α = 2 for the SSD variants: on these blobs, importances rarely differ tenfold.
        var ssd = method is UnlearningMethod.Ssd or UnlearningMethod.SsdLabelFree;
        var settings = ssd ? new UnlearningSettings { Alpha = 2, Seed = 1 } : new UnlearningSettings { Epochs = 2, Seed = 1 };
        var outcome = Unlearner.Run(method, settings, f.Job(),
            new SyncProgress(progress.Add));

        Assert.Equal(method, outcome.Method);
        Assert.True(outcome.Seconds > 0);
        Assert.Contains(f.Model.state_dict(), kv => !TensorAssert.Identical(before[kv.Key], kv.Value));
        Assert.NotEmpty(progress);
        Assert.Equal(1.0, progress[^1].Fraction, 6);
        Assert.True(progress.Zip(progress.Skip(1)).All(p => p.Second.Fraction >= p.First.Fraction), "progress went backwards");
        var expected = settings.Resolve(method, Recipe);
        Assert.Equal(expected, outcome.Settings);
    }

    [Fact]
    public void Resolve_Defaults_FollowTheSpecification()
    {
        var salun = new UnlearningSettings().Resolve(UnlearningMethod.SalUn);
        Assert.Equal((10, 0.013, 256, 0.5, 0.9, 5e-4), (salun.Epochs, salun.LearningRate, salun.BatchSize, salun.MaskRatio, salun.Momentum, salun.WeightDecay));
        Assert.Equal(PassOrder.Sequential, salun.PassOrder);
        Assert.Equal(PassOrder.Sequential, new UnlearningSettings().Resolve(UnlearningMethod.RandomLabel).PassOrder);
        Assert.Null(new UnlearningSettings { PassOrder = PassOrder.Shuffled }.Resolve(UnlearningMethod.FineTune).PassOrder);
        Assert.Throws<ArgumentException>(() => new UnlearningSettings { PassOrder = (PassOrder)7 }.Resolve(UnlearningMethod.SalUn));
        var ssd = new UnlearningSettings().Resolve(UnlearningMethod.Ssd);
        Assert.Equal((10.0, 1.0, 64), (ssd.Alpha, ssd.Lambda, ssd.BatchSize));
        Assert.Null(ssd.LearningRate);
        var ga = new UnlearningSettings().Resolve(UnlearningMethod.GradientAscent);
        Assert.Equal((5, 1e-4), (ga.Epochs, ga.LearningRate));
        var ft = new UnlearningSettings().Resolve(UnlearningMethod.FineTune);
        Assert.Equal((10, 0.01), (ft.Epochs, ft.LearningRate));
    }

    [Theory]
    [InlineData(null, 10)]
    [InlineData(200, 10)]
    [InlineData(40, 6)]
    [InlineData(10, 2)]
    [InlineData(2, 1)]
    public void Resolve_RandomLabelEpochs_AtMost15PercentOfTheOriginalTraining(int? recipeEpochs, int expected)
    {
        var recipe = recipeEpochs is { } e ? new TrainingOptions { Epochs = e } : null;
        Assert.Equal(expected, new UnlearningSettings().Resolve(UnlearningMethod.SalUn, recipe).Epochs);
        Assert.Equal(expected, new UnlearningSettings().Resolve(UnlearningMethod.RandomLabel, recipe).Epochs);
        // Given epochs always win.
        Assert.Equal(3, new UnlearningSettings { Epochs = 3 }.Resolve(UnlearningMethod.SalUn, recipe).Epochs);
    }

    [Theory]
    [InlineData("importance: training set")]
    [InlineData("importance: forget set")]
    public void Run_SsdCancelledMidway_FreesTheImportancesItComputed(string cancelIn)
    {
        using var f = new Fixture();
        using var cancellation = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Phase == cancelIn) cancellation.Cancel(); });
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount; // this thread's tensors not yet disposed

        // The scope takes what the run leaves to scopes (views of gradients, say); what it detached from every scope, as
        // I_D and the running sums, the run must free itself when it is cancelled.
        using (torch.NewDisposeScope())
            Assert.ThrowsAny<OperationCanceledException>(() =>
                Unlearner.Run(UnlearningMethod.Ssd, new UnlearningSettings { BatchSize = 8 }, f.Job(), progress, cancellation.Token));

        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Resolve_Retrain_TakesAnyRecipeTheTrainerAccepts()
    {
        // A model trained for 5,000 epochs is retrained with its own recipe; beyond what training allows is refused.
        Assert.Equal(5000, new UnlearningSettings().Resolve(UnlearningMethod.Retrain, new TrainingOptions { Epochs = 5000 }).Epochs);
        var error = Assert.Throws<ArgumentException>(() => new UnlearningSettings { Epochs = 10_001 }.Resolve(UnlearningMethod.Retrain));
        Assert.Equal("Epochs 10001 must be between 1 and 10000.", error.Message);
    }

    [Fact]
    public void Run_GradientAscentAtAnAbsurdLearningRate_ThrowsDiverged()
    {
        using var f = new Fixture();

        var error = Assert.Throws<TrainingDivergedException>(() =>
            Unlearner.Run(UnlearningMethod.GradientAscent, new UnlearningSettings { Epochs = 20, LearningRate = 10 }, f.Job()));

        Assert.Contains("learning rate 10", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_WeightsNonFiniteAtTheEnd_ThrowsDivergedNamingTheTensor()
    {
        using var f = new Fixture();
        // A bias of −∞ silences its ReLU unit: outputs, loss and gradients stay finite (the importance passes do not
        // object), the entry's importance is 0 so SSD does not dampen it, and it is still infinite when the run ends.
        using (torch.no_grad()) f.Model.state_dict()["fc1.bias"][0] = float.NegativeInfinity;

        var error = Assert.Throws<TrainingDivergedException>(() => Unlearner.Run(UnlearningMethod.Ssd, new UnlearningSettings(), f.Job()));

        Assert.Contains("ssd left NaN or infinite values in 'fc1.bias'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_Cancelled_ThrowsBetweenSteps()
    {
        using var f = new Fixture();
        using var cts = new CancellationTokenSource();
        var steps = 0;
        var progress = new SyncProgress(_ => { if (++steps == 3) cts.Cancel(); });

        Assert.Throws<OperationCanceledException>(() =>
            Unlearner.Run(UnlearningMethod.FineTune, new UnlearningSettings { Epochs = 5 }, f.Job(), progress, cts.Token));
        Assert.Equal(3, steps);
    }

    [Theory]
    [InlineData(PassOrder.Sequential)]
    [InlineData(PassOrder.Shuffled)]
    public void Run_RegressionSalUn_UsesGaussianTargetsAndMse(PassOrder order)
    {
        var spec = new ModelSpec { Architecture = Architecture.Mlp, InputShape = [6], Outputs = 1, Task = TaskKind.Regression, Width = 16, Depth = 1 };
        using var f = new Fixture(spec, SyntheticData.Linear());
        var before = f.Snapshot();

        var outcome = Unlearner.Run(UnlearningMethod.SalUn, new UnlearningSettings { Epochs = 2, LearningRate = 0.005, PassOrder = order }, f.Job());

        Assert.Contains(f.Model.state_dict(), kv => !TensorAssert.Identical(before[kv.Key], kv.Value));
        Assert.All(f.Model.parameters(), p => Assert.False(p.isnan().any().item<bool>()));
        Assert.True(outcome.Details["salient_entries"] > 0);
    }

    [Fact]
    public void Step_MatchesTorchSgdWithMomentumAndWeightDecay()
    {
        var spec = new ModelSpec { Architecture = Architecture.Mlp, InputShape = [8], Outputs = 3, Width = 4, Depth = 1 };
        using var dataset = SyntheticData.Blobs();
        using var data = new DeviceData(dataset, torch.CPU);
        using var ours = ModelZoo.Create(spec, seed: 5);
        using var theirs = ModelZoo.Create(spec, seed: 5);
        using var sgd = new Sgd(ours.parameters(), 0.1, 0.9, 5e-4);
        using var reference = torch.optim.SGD(theirs.parameters(), 0.1, momentum: 0.9, weight_decay: 5e-4);
        var x = data.Features.narrow(0, 0, 32);
        var y = data.Targets.narrow(0, 0, 32);

        for (var step = 0; step < 5; step++)
        {
            foreach (var p in sgd.Parameters) p.grad?.zero_();
            nn.functional.cross_entropy(ours.forward(x), y).backward();
            sgd.Step();
            reference.zero_grad();
            nn.functional.cross_entropy(theirs.forward(x), y).backward();
            reference.step();
        }

        foreach (var (name, value) in ours.state_dict())
            Assert.True(value.allclose(theirs.state_dict()[name], rtol: 1e-5, atol: 1e-6), name);
    }
}

/// <summary>Reports synchronously (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SyncProgress(Action<EngineProgress> report) : IProgress<EngineProgress>
{
    public void Report(EngineProgress value) => report(value);
}
