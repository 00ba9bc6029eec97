using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Methods;

public sealed class TunerTests
{
    /// <summary>An MLP trained on synthetic blobs with a forget set resolved; disposes it all.</summary>
    sealed class Trained : IDisposable
    {
        public Trained(ForgetSpec forget, int validation = 0)
        {
            TorchRuntime.Initialize();
            Dataset = SyntheticData.Blobs(train: 300, test: 100, validation: validation, spread: 2.0);
            Device = new DeviceData(Dataset, torch.CPU);
            Model = ModelZoo.Create(Spec, seed: 2);
            Trainer.Train(Model, Device, Dataset.IndicesOf(Split.Train), new TrainingOptions { Epochs = 60, BatchSize = 32, LearningRate = 0.05 });
            Partition = ForgetPartition.Resolve(Dataset, forget);
        }

        public ModelSpec Spec { get; } = new() { Architecture = Architecture.Mlp, InputShape = [8], Outputs = 3, Width = 64, Depth = 2 };
        public Dataset Dataset { get; }
        public DeviceData Device { get; }
        public nn.Module<Tensor, Tensor> Model { get; }
        public ForgetPartition Partition { get; }
        public UnlearningJob Job => new() { Model = Model, Spec = Spec, Data = Device, Forget = Partition.Forget, Retain = Partition.Retain };

        public void Dispose()
        {
            Model.Dispose();
            Device.Dispose();
            Dataset.Dispose();
        }
    }

    [Fact]
    public void Tune_ClassForgetting_ChoosesThePassingCandidateClosestToRetrainingAndRestoresTheModel()
    {
        using var t = new Trained(new ForgetSpec { Class = 1 });
        var (model, partition, job) = (t.Model, t.Partition, t.Job);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var settings = new UnlearningSettings { Epochs = 5, BatchSize = 32 };

        var result = Tuner.Tune(UnlearningMethod.SalUn, settings, job, partition);

        Assert.Equal([0.001, 0.002, 0.003, 0.005, 0.008, 0.013, 0.005, 0.008, 0.013, 0.02], result.Candidates.Select(c => c.Settings.LearningRate!.Value));
        Assert.Equal([.. Enumerable.Repeat(PassOrder.Sequential, 6), .. Enumerable.Repeat(PassOrder.Shuffled, 4)], result.Candidates.Select(c => c.Settings.PassOrder!.Value));
        Assert.Equal([.. Enumerable.Repeat(32, 6), .. Enumerable.Repeat(128, 4)], result.Candidates.Select(c => c.Settings.BatchSize!.Value));
        Assert.Equal(TuneObjective.EstimatedGap, result.Objective);
        Assert.True(result.ChosenPassed, string.Join("\n", result.Candidates.Select(c => $"{c.Settings.LearningRate}: {string.Join("; ", c.Verdict.Criteria.Select(x => x.Explanation))}")));
        var chosen = result.Candidates.Single(c => c.Settings == result.Chosen);
        Assert.True(chosen.Verdict.Passed);
        Assert.All(result.Candidates.Where(c => c.Verdict.Passed), c => Assert.True(chosen.EstimatedGap <= c.EstimatedGap));
        Assert.True(result.HoldoutCount > 0);
        foreach (var (name, value) in model.state_dict())
            TensorAssert.BitIdentical(before[name], value, name);
    }

    [Fact]
    public void Tune_ACandidateDiverges_ListsItAndChoosesAmongTheOthers()
    {
        using var t = new Trained(new ForgetSpec { Class = 1 });
        var (model, partition, job) = (t.Model, t.Partition, t.Job);
        var settings = new UnlearningSettings { Epochs = 5, BatchSize = 32 };
        // Gradient ascent at lr 10 drives the loss to -∞ within a few steps.
        var options = new TuneOptions { Candidates = [settings with { LearningRate = 10 }, settings with { LearningRate = 1e-4 }] };

        var result = Tuner.Tune(UnlearningMethod.GradientAscent, settings, job, partition, options);

        var diverged = Assert.Single(result.Diverged);
        Assert.Equal(10, diverged.Settings.LearningRate);
        Assert.Contains("diverged", diverged.Reason, StringComparison.Ordinal);
        Assert.Equal(1e-4, Assert.Single(result.Candidates).Settings.LearningRate);
        Assert.Equal(1e-4, result.Chosen.LearningRate);
        Assert.All(model.parameters(), p => Assert.True(torch.isfinite(p).all().item<bool>()));
    }

    [Fact]
    public void Tune_EveryCandidateDiverges_Throws()
    {
        using var t = new Trained(new ForgetSpec { Class = 1 });
        var (model, partition, job) = (t.Model, t.Partition, t.Job);
        var settings = new UnlearningSettings { Epochs = 5, BatchSize = 32, LearningRate = 10 };

        var error = Assert.Throws<EveryCandidateDivergedException>(() =>
            Tuner.Tune(UnlearningMethod.GradientAscent, settings, job, partition, new TuneOptions { Candidates = [settings] }));

        Assert.Contains("Every one of the 1 candidates diverged", error.Message, StringComparison.Ordinal);
        Assert.Equal(10, Assert.Single(error.Diverged).Settings.LearningRate);
        // Gradient ascent never updates on Dr: it would have been judged on all of it (under the cap).
        Assert.Equal(Math.Min(partition.Retain.Length, 2000), error.HoldoutCount);
    }

    [Fact]
    public void Tune_MethodsThatNeverUpdateOnDr_AreJudgedOnAllOfItAndTheOthersOnAHeldOutTenth()
    {
        using var t = new Trained(new ForgetSpec { Class = 1 });
        var settings = new UnlearningSettings { Epochs = 2, BatchSize = 32 };
        var retain = t.Partition.Retain.Length;

        var ssd = Tuner.Tune(UnlearningMethod.Ssd, settings, t.Job, t.Partition, new TuneOptions { Candidates = [settings with { Alpha = 10 }] });
        var ga = Tuner.Tune(UnlearningMethod.GradientAscent, settings, t.Job, t.Partition, new TuneOptions { Candidates = [settings with { LearningRate = 1e-4 }] });
        var salun = Tuner.Tune(UnlearningMethod.SalUn, settings, t.Job, t.Partition, new TuneOptions { Candidates = [settings with { LearningRate = 0.01 }] });
        var capped = Tuner.Tune(UnlearningMethod.Ssd, settings, t.Job, t.Partition, new TuneOptions { Candidates = [settings with { Alpha = 10 }], MaxHoldout = 50 });

        Assert.Equal(retain, ssd.HoldoutCount);
        Assert.Equal(retain, ga.HoldoutCount);
        Assert.Equal((int)Math.Round(0.1 * retain), salun.HoldoutCount);
        Assert.Equal(50, capped.HoldoutCount);
        // Judged on all of Dr, SSD's held-out utility is its utility on Dr: what the run's own verdict will measure.
        Unlearner.Run(UnlearningMethod.Ssd, ssd.Chosen, t.Job);
        var after = UnlearningMetrics.Measure(t.Model, t.Device, t.Partition.Forget, t.Partition.Retain, t.Partition.Test);
        Assert.Equal(after.RetainAccuracy, Assert.Single(ssd.Candidates).Metrics.RetainAccuracy);
    }

    [Fact]
    public void AlternativesTo_DefaultsThatFailed_TheGridWithoutThem()
    {
        var defaults = new UnlearningSettings { Seed = 4 };

        var salun = Tuner.AlternativesTo(UnlearningMethod.SalUn, defaults);
        Assert.Equal([0.001, 0.002, 0.003, 0.005, 0.008, 0.005, 0.008, 0.013, 0.02], salun.Select(c => c.LearningRate!.Value));
        Assert.Equal(4, salun.Count(c => c.PassOrder == PassOrder.Shuffled));
        // A shuffled setting that failed is left out; the sequential one at its learning rate stays.
        var shuffled = Tuner.AlternativesTo(UnlearningMethod.RandomLabel, defaults with { LearningRate = 0.013, PassOrder = PassOrder.Shuffled, BatchSize = 128 });
        Assert.Equal([0.001, 0.002, 0.003, 0.005, 0.008, 0.013, 0.005, 0.008, 0.02], shuffled.Select(c => c.LearningRate!.Value));
        Assert.Equal([2.0, 5, 7, 15, 20, 25, 35, 50], Tuner.AlternativesTo(UnlearningMethod.Ssd, defaults).Select(c => c.Alpha!.Value));
        Assert.Equal([2.0, 5, 7, 10, 15, 25, 35, 50], Tuner.AlternativesTo(UnlearningMethod.Ssd, defaults with { Alpha = 20 }).Select(c => c.Alpha!.Value));
        Assert.Equal([1e-5, 1e-3, 5e-3], Tuner.AlternativesTo(UnlearningMethod.GradientAscent, defaults).Select(c => c.LearningRate!.Value));
        Assert.All(Tuner.AlternativesTo(UnlearningMethod.FineTune, defaults with { Epochs = 3 }), c => Assert.Equal((3, 4L), (c.Epochs!.Value, c.Seed)));
        Assert.False(Tuner.CanTune(UnlearningMethod.Retrain));
        Assert.True(Tuner.CanTune(UnlearningMethod.L1Sparse));
    }

    [Fact]
    public void Tune_UtilityLossObjective_ChoosesThePassingCandidateThatLosesLeast()
    {
        using var t = new Trained(new ForgetSpec { Class = 1 });
        var (model, partition, job) = (t.Model, t.Partition, t.Job);
        var settings = new UnlearningSettings { Epochs = 5, BatchSize = 32 };
        var options = new TuneOptions
        {
            Objective = TuneObjective.UtilityLoss,
            Candidates = [settings with { LearningRate = 0.005 }, settings with { LearningRate = 0.02 }, settings with { LearningRate = 0.08 }],
        };

        var result = Tuner.Tune(UnlearningMethod.SalUn, settings, job, partition, options);

        Assert.Equal(3, result.Candidates.Count);
        Assert.True(result.ChosenPassed);
        var chosen = result.Candidates.Single(c => c.Settings == result.Chosen);
        Assert.All(result.Candidates.Where(c => c.Verdict.Passed), c => Assert.True(chosen.UtilityLoss <= c.UtilityLoss));
    }

    static UnlearningMetrics Metrics(double forget, double retain, double test, int forgetMembers, int testMembers, int? heldOutMembers = null) => new()
    {
        ForgetCount = 100, RetainCount = 1000, TestCount = 1000,
        ForgetAccuracy = forget, RetainAccuracy = retain, TestAccuracy = test,
        Mia = new MiaReport
        {
            Efficacy = 100.0 * (100 - forgetMembers) / 100, ShadowAccuracy = 60, IsInformative = true, Assessment = "", ShadowSize = 500,
            ForgetCount = 100, ForgetPredictedMembers = forgetMembers, TestCount = 1000, TestPredictedMembers = testMembers,
            HeldOutTestPredictedMembers = heldOutMembers ?? testMembers / 2,
            MembershipPValue = 0.5, SvmIterations = 1, SvmConverged = true,
        },
    };

    [Fact]
    public void EstimateGap_Samples_TargetsTheOriginalUtilityAndNonMemberBehaviourOnDf()
    {
        // Original: Df 100%, H 100%, V 90%. Candidate: Df 93%, H 98%, V 89%; the attack calls 80 of 100 Df
        // samples members (efficacy 20), 850 of all 1000 V samples, but only 425 of the 500 it never saw (so an
        // unseen non-member shows efficacy 15; the 500 shadow samples it was fitted on do not count).
        var before = Metrics(100, 100, 90, forgetMembers: 99, testMembers: 850);
        var after = Metrics(93, 98, 89, forgetMembers: 80, testMembers: 850, heldOutMembers: 425);
        var inSampleOnly = Metrics(93, 98, 89, forgetMembers: 80, testMembers: 850, heldOutMembers: 400);

        var gap = Tuner.EstimateGap(before, after, ForgetKind.Samples);

        // |93 − 90| + |98 − 100| + |89 − 90| + |20 − 15|, over 4.
        Assert.Equal((3 + 2 + 1 + 5) / 4.0, gap, 9);
        // 400 of the unseen 500 → efficacy 20: the MIA term vanishes although the whole set's rate is the same.
        Assert.Equal((3 + 2 + 1 + 0) / 4.0, Tuner.EstimateGap(before, inSampleOnly, ForgetKind.Samples), 9);
    }

    [Fact]
    public void EstimateGap_Class_TargetsZeroAccuracyAndFullEfficacyOnTheClass()
    {
        var before = Metrics(100, 100, 90, forgetMembers: 99, testMembers: 850);
        var after = Metrics(4, 99, 88, forgetMembers: 10, testMembers: 850);

        var gap = Tuner.EstimateGap(before, after, ForgetKind.Class);

        // |4 − 0| + |99 − 100| + |88 − 90| + |90 − 100|, over 4.
        Assert.Equal((4 + 1 + 2 + 10) / 4.0, gap, 9);
    }

    [Fact]
    public void EstimateGap_ClassWithoutValidationSplit_IsOverUaAndRaAlone()
    {
        var before = Metrics(100, 100, 100, forgetMembers: 99, testMembers: 850);
        var after = Metrics(4, 99, 99, forgetMembers: 10, testMembers: 850);

        // No V: "TA" is H again and the MIA pits H against itself, so only |4 − 0| and |99 − 100| count.
        Assert.Equal((4 + 1) / 2.0, Tuner.EstimateGap(before, after, ForgetKind.Class, hasValidation: false), 9);
    }

    static TuneCandidate Candidate(double lr, bool passed, double loss, double gap, double change = 0.1) => new(
        new UnlearningSettings { LearningRate = lr },
        new Verdict(passed, [new VerdictCriterion("retain_accuracy", passed ? CriterionOutcome.Pass : CriterionOutcome.Fail, loss, 2, "")], new VerdictThresholds()),
        loss, gap, Metrics(90, 99, 89, 50, 850), 1, change);

    [Fact]
    public void Choose_ObjectivesDisagree_EachPicksItsOwnAmongThePassing()
    {
        // 0.003 is closest to retraining, 0.002 loses least utility, 0.008 would beat both but fails.
        TuneCandidate[] candidates = [Candidate(0.002, true, loss: 0.5, gap: 3), Candidate(0.003, true, loss: 1.5, gap: 1), Candidate(0.008, false, loss: 0.1, gap: 0.5)];

        Assert.Equal(0.003, Tuner.Choose(candidates, TuneObjective.EstimatedGap).Settings.LearningRate);
        Assert.Equal(0.002, Tuner.Choose(candidates, TuneObjective.UtilityLoss).Settings.LearningRate);
    }

    [Fact]
    public void Choose_Ties_TheCandidateThatChangedTheWeightsLeastWins()
    {
        // On 27 held-out samples one sample is 3.7 points: several settings often tie on every figure.
        TuneCandidate[] candidates = [Candidate(0.005, true, loss: 3.7, gap: 1.85, change: 0.30), Candidate(0.002, true, loss: 3.7, gap: 1.85, change: 0.05),
            Candidate(0.003, true, loss: 3.7, gap: 1.85, change: 0.12), Candidate(0.001, false, loss: 9, gap: 0.5, change: 0.01)];

        Assert.Equal(0.002, Tuner.Choose(candidates, TuneObjective.EstimatedGap).Settings.LearningRate);
        Assert.Equal(0.002, Tuner.Choose(candidates, TuneObjective.UtilityLoss).Settings.LearningRate);
        Assert.Equal(0.001, Tuner.Choose([candidates[3], candidates[3] with { WeightChange = 0.5, Settings = new UnlearningSettings { LearningRate = 0.008 } }],
            TuneObjective.EstimatedGap).Settings.LearningRate);
    }

    [Fact]
    public void Choose_NonePasses_LeastGapOrSmallestShortfall()
    {
        // Shortfall is how far each failing criterion is past its threshold: |4 − 2|/2 = 1 beats |9 − 2|/2.
        TuneCandidate[] candidates = [Candidate(0.002, false, loss: 9, gap: 2), Candidate(0.005, false, loss: 4, gap: 6)];

        Assert.Equal(0.002, Tuner.Choose(candidates, TuneObjective.EstimatedGap).Settings.LearningRate);
        Assert.Equal(0.005, Tuner.Choose(candidates, TuneObjective.UtilityLoss).Settings.LearningRate);
    }

    [Fact]
    public void Tune_SampleForgettingWithoutValidationSplit_RefusesToUseTheTestSet()
    {
        using var t = new Trained(new ForgetSpec { SampleIds = ["s0", "s1", "s2"] });
        var (model, partition, job) = (t.Model, t.Partition, t.Job);

        var error = Assert.Throws<ArgumentException>(() => Tuner.Tune(UnlearningMethod.Ssd, new UnlearningSettings(), job, partition));

        Assert.Contains("validation", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(double.NaN, 2000, "Hold-out fraction NaN")]
    [InlineData(1.0, 2000, "Hold-out fraction 1 must be in (0, 1)")]
    [InlineData(0.1, 0, "At most 0 held-out samples")]
    public void Tune_ImpossibleOptions_RefusedBeforeAnyWork(double holdoutFraction, int maxHoldout, string expected)
    {
        using var t = new Trained(new ForgetSpec { Class = 0 });
        var options = new TuneOptions { HoldoutFraction = holdoutFraction, MaxHoldout = maxHoldout };

        var error = Assert.Throws<ArgumentException>(() => Tuner.Tune(UnlearningMethod.FineTune, new UnlearningSettings(), t.Job, t.Partition, options));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tune_RetainSetOfOneSample_RefusesWithAClearErrorForMethodsThatTrainOnIt()
    {
        using var t = new Trained(new ForgetSpec { Class = 0 });
        var job = new UnlearningJob { Model = t.Model, Spec = t.Spec, Data = t.Device, Forget = t.Partition.Forget, Retain = t.Partition.Retain[..1] };

        var error = Assert.Throws<ArgumentException>(() => Tuner.Tune(UnlearningMethod.FineTune, new UnlearningSettings(), job, t.Partition));

        Assert.Contains("has 1 sample", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(32)] // a cached I_D of another batch size is no use: computed once, as without one
    [InlineData(64)] // SSD's own batch size: used, never computed
    public void Tune_SsdWithValidationSplit_TriesTheAlphaGridAndComputesImportanceOnce(int? cachedBatch)
    {
        using var t = new Trained(new ForgetSpec { SampleIds = [.. Enumerable.Range(0, 30).Select(i => $"s{i}")] }, validation: 100);
        var partition = t.Partition;
        using var cached = cachedBatch is { } b ? Dampening.Importance(t.Model, t.Device, t.Dataset.IndicesOf(Split.Train), b, labelFree: false) : null;
        var job = new UnlearningJob { Model = t.Model, Spec = t.Spec, Data = t.Device, Forget = partition.Forget, Retain = partition.Retain, TrainingSetImportance = cached };
        var reports = new List<EngineProgress>();

        var result = Tuner.Tune(UnlearningMethod.Ssd, new UnlearningSettings(), job, partition, progress: new SyncProgress(reports.Add));

        Assert.Equal([2.0, 5, 7, 10, 15, 20, 25, 35, 50], result.Candidates.Select(c => c.Settings.Alpha!.Value));
        Assert.Equal(100, result.ValidationCount);
        var phases = reports.Select(r => r.Phase).ToList();
        if (cachedBatch == 64)
        {
            Assert.DoesNotContain(phases, p => p.Contains("training set", StringComparison.Ordinal));
            return;
        }
        Assert.Single(phases.Where(p => p.Contains("training set", StringComparison.Ordinal)).Select(p => p[..p.IndexOf(':', StringComparison.Ordinal)]).Distinct());
        // The pass over D moves the progress (it is most of the work) and the whole search advances monotonically to 1.
        var importance = reports.Where(r => r.Phase == "importance: training set").ToList();
        var share = (double)(job.Forget.Count + job.Retain.Count) / (job.Forget.Count + job.Retain.Count + 9 * job.Forget.Count);
        Assert.Equal(share, importance[^1].Fraction, 9);
        Assert.Equal(reports.Select(r => r.Fraction).Order(), reports.Select(r => r.Fraction));
        Assert.Equal(1, reports[^1].Fraction, 9);
        Assert.All(result.Candidates, c => Assert.Contains(c.Verdict.Criteria, x => x.Name == "membership"));
    }

    [Theory]
    [InlineData(null, new[] { 64, 32, 32 }, new[] { "importance: training set", "candidate 2/3: importance: training set" })] // the second's is kept for the third
    [InlineData(64, new[] { 32, 64 }, new[] { "importance: training set" })] // the search computes I_D for the first; the second uses the given cache
    [InlineData(32, new[] { 32, 64 }, new[] { "candidate 2/2: importance: training set" })] // the cache serves the first; the second computes its own
    public void Tune_SsdCandidatesOfTwoBatchSizes_EachUsesAMatchingImportanceAndNothingLeaks(int? cachedBatch, int[] batches, string[] passes)
    {
        using var t = new Trained(new ForgetSpec { SampleIds = [.. Enumerable.Range(0, 30).Select(i => $"s{i}")] }, validation: 100);
        using var cached = cachedBatch is { } b ? Dampening.Importance(t.Model, t.Device, t.Dataset.IndicesOf(Split.Train), b, labelFree: false) : null;
        var job = new UnlearningJob { Model = t.Model, Spec = t.Spec, Data = t.Device, Forget = t.Partition.Forget, Retain = t.Partition.Retain, TrainingSetImportance = cached };
        var options = new TuneOptions { Candidates = [.. batches.Select(batch => new UnlearningSettings { Alpha = 10, BatchSize = batch })] };
        var phases = new List<string>();
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        TuneResult result;
        using (torch.NewDisposeScope())
            result = Tuner.Tune(UnlearningMethod.Ssd, new UnlearningSettings(), job, t.Partition, options, new SyncProgress(p => phases.Add(p.Phase)));

        Assert.Equal(batches, result.Candidates.Select(c => c.Settings.BatchSize!.Value));
        // Passes over D for I_D: the search's own (when the cache does not fit the first candidate), then any candidate's.
        Assert.Equal(passes, phases.Where(p => p.EndsWith("importance: training set", StringComparison.Ordinal)).Distinct());
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}

public sealed class ForgetPartitionTests
{
    [Fact]
    public void Resolve_Subjects_ForgetsAllTheirTrainingSamplesOnly()
    {
        using var dataset = SyntheticData.Blobs(train: 40, test: 20);

        var partition = ForgetPartition.Resolve(dataset, new ForgetSpec { SubjectIds = ["subject1", "subject3"] });

        // Subjects are blocks of 10 samples.
        Assert.Equal(Enumerable.Range(10, 10).Concat(Enumerable.Range(30, 10)).Select(i => (long)i), partition.Forget);
        Assert.Equal(20, partition.Retain.Length);
        Assert.Equal(20, partition.Test.Length);
        Assert.Equal(ForgetKind.Subjects, partition.Kind);
        // subject4 (samples 40..49) has only test samples: nothing of it can be forgotten.
        var error = Assert.Throws<ArgumentException>(() => ForgetPartition.Resolve(dataset, new ForgetSpec { SubjectIds = ["subject4"] }));
        Assert.Contains("No training samples of subjects: subject4", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_Class_ExcludesThatClassFromTheTestSet()
    {
        using var dataset = SyntheticData.Blobs(train: 60, test: 30);
        var labels = dataset.Targets.data<long>().ToArray();

        var partition = ForgetPartition.Resolve(dataset, new ForgetSpec { Class = 2 });

        Assert.All(partition.Forget, i => Assert.Equal(2, labels[i]));
        Assert.All(partition.Test, i => Assert.NotEqual(2, labels[i]));
        Assert.Equal(labels.Take(60).Count(l => l == 2), partition.Forget.Length);
    }

    [Theory]
    [InlineData(new[] { "nope" }, "Unknown sample ids: nope")]
    [InlineData(new[] { "s45" }, "Only training samples can be forgotten")]
    public void Resolve_BadIds_ThrowsNamingThem(string[] ids, string message)
    {
        using var dataset = SyntheticData.Blobs(train: 40, test: 20);
        var error = Assert.Throws<ArgumentException>(() => ForgetPartition.Resolve(dataset, new ForgetSpec { SampleIds = ids }));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_AlreadyForgotten_ExcludedFromRetainAndForget()
    {
        using var dataset = SyntheticData.Blobs(train: 40, test: 20);

        var partition = ForgetPartition.Resolve(dataset, new ForgetSpec { SampleIds = ["s0", "s1"] }, new HashSet<string> { "s1", "s2" });

        Assert.Equal([0L], partition.Forget);
        Assert.DoesNotContain(2L, partition.Retain);
        Assert.Equal(37, partition.Retain.Length);
    }
}
