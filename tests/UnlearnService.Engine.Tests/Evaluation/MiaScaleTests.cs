using System.Diagnostics;
using System.Globalization;
using UnlearnService.Engine.Evaluation;
using Xunit.Abstractions;

namespace UnlearnService.Engine.Tests.Evaluation;

/// <summary>The MIA at the size it runs at in production; prints timings instead of asserting them.</summary>
public sealed class MiaScaleTests(ITestOutputHelper output)
{
    /// <summary>Production-sized MIA inputs: 10,000 retain and 10,000 test features (the shadow sets), 6,000 forget.</summary>
    static (float[] Retain, float[] Test, float[] Forget) ProductionSized(int seed)
    {
        var rng = new Random(seed);
        return (MiaSyntheticFeatures.TrainProbabilities(rng, 10_000), MiaSyntheticFeatures.TestProbabilities(rng, 10_000),
            MiaSyntheticFeatures.TrainProbabilities(rng, 6_000));
    }

    [Fact]
    public void Evaluate_20000ShadowAnd6000Targets_FinishesWithSaneReport()
    {
        var (retain, test, forget) = ProductionSized(20261124);

        var watch = Stopwatch.StartNew();
        var report = MembershipInference.Evaluate(retain, test, forget);
        watch.Stop();

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"MIA 10000+10000 shadow, 6000 forget (+10000 test predicted): {watch.Elapsed.TotalSeconds:F2} s; efficacy {report.Efficacy:F2}, shadow accuracy {report.ShadowAccuracy:F2}%, member rate Df {report.ForgetMemberRate:F3} vs T {report.TestMemberRate:F3}, p {report.MembershipPValue:G3}, iterations {report.SvmIterations}"));
        Assert.True(report.SvmConverged);
        Assert.Equal(10_000, report.ShadowSize);
        Assert.True(report.IsInformative, report.Assessment);
        // Forget samples come from the training distribution: most must look like members, more than T does.
        Assert.InRange(report.Efficacy, 0, 30);
        Assert.True(report.ForgetMemberRate > report.TestMemberRate);
        Assert.True(report.MembershipPValue < 1e-6);
    }

    [Fact]
    public void Evaluate_CancelledDuringTheFit_Throws()
    {
        var (retain, test, forget) = ProductionSized(20261203);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        // The solver looks at the token where libsvm considers shrinking, first after at most 1,001 iterations. This fit
        // runs more, so a cancelled one stops there, inside the loop, as it would for a cancellation arriving mid-fit.
        Assert.True(MembershipInference.Evaluate(retain, test, forget).SvmIterations > 1_001);
        Assert.ThrowsAny<OperationCanceledException>(() => MembershipInference.Evaluate(retain, test, forget, cancellationToken: cancelled.Token));
    }

    [Fact]
    public void FitPredict_20000ShadowAnd6000Targets_FinishesAndSeparatesClasses()
    {
        var rng = new Random(7);
        var members = MiaSyntheticFeatures.TrainProbabilities(rng, 10_000);
        var nonMembers = MiaSyntheticFeatures.TestProbabilities(rng, 10_000);
        var targets = MiaSyntheticFeatures.Mixed(rng, 6_000, 0.5);
        double[] x = [.. members.Select(v => (double)v), .. nonMembers.Select(v => (double)v)];
        bool[] y = [.. Enumerable.Repeat(true, members.Length), .. Enumerable.Repeat(false, nonMembers.Length)];
        var t = targets.Select(v => (double)v).ToArray();

        var watch = Stopwatch.StartNew();
        var svm = RbfSvm.Fit(x, y);
        var fitSeconds = watch.Elapsed.TotalSeconds;
        var predicted = new bool[t.Length];
        svm.Predict(t, predicted);
        watch.Stop();

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit {fitSeconds:F2} s + predict 6000 {watch.Elapsed.TotalSeconds - fitSeconds:F2} s = {watch.Elapsed.TotalSeconds:F2} s; {svm.TrainingPoints} points after merging, {svm.Iterations} iterations, nSV {svm.SupportVectorCounts[0]}/{svm.SupportVectorCounts[1]}"));
        Assert.True(svm.Converged);
        // Saturated features (exactly 1.0) are nearly all members: they must be predicted member.
        Assert.True(svm.Predict([1.0]));
        // Low probabilities only occur for non-members and misclassified samples.
        Assert.False(svm.Predict([0.3]));
        var memberRate = predicted.Count(p => p) / (double)predicted.Length;
        Assert.InRange(memberRate, 0.2, 0.9);
    }
}
