using System.Globalization;
using UnlearnService.Engine.Evaluation;
using Xunit.Abstractions;

namespace UnlearnService.Engine.Tests.Evaluation;

public sealed class MiaSvmFixtureTests(ITestOutputHelper output)
{
    public static TheoryData<string> CaseNames => MiaSvmFixture.Names();

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Predict_SklearnFixtureCase_AgreesWithSklearn(string name)
    {
        var c = MiaSvmFixture.Get(name);
        var svm = RbfSvm.Fit(c.TrainingFeatures(), c.TrainingLabels(), c.Dimension);

        var predicted = new bool[c.TargetCount];
        svm.Predict(c.TargetFeatures(), predicted);
        var decision = new double[c.TargetCount];
        svm.Decision(c.TargetFeatures(), decision);

        var agree = Enumerable.Range(0, c.TargetCount).Count(i => predicted[i] == (c.Predictions[i] == 1));
        var agreement = 100.0 * agree / c.TargetCount;
        var efficacy = 100.0 * predicted.Count(p => !p) / predicted.Length;
        var maxDecisionError = Enumerable.Range(0, c.TargetCount).Max(i => Math.Abs(decision[i] - c.Decision[i]));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: agreement {agreement:F2}% ({agree}/{c.TargetCount}), efficacy {efficacy:F2} vs sklearn {c.SklearnEfficacy:F2}, max |Δdecision| {maxDecisionError:G3}, iterations {svm.Iterations} (sklearn {c.NIter}), points {svm.TrainingPoints}, nSV {svm.SupportVectorCounts[0]}/{svm.SupportVectorCounts[1]} (sklearn {c.NSupport[0]}/{c.NSupport[1]}), intercept {svm.Intercept:G6} vs {c.Intercept:G6}"));

        Assert.True(agreement >= 99.5, $"agreement {agreement:F2}% < 99.5%");
        Assert.True(Math.Abs(efficacy - c.SklearnEfficacy) <= 0.5, $"efficacy {efficacy} vs sklearn {c.SklearnEfficacy}");
        // Both solutions are ε-optimal (ε = 1e-3); their decision values differ by about that much.
        Assert.True(maxDecisionError < 1e-2, $"max |Δdecision| {maxDecisionError}");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Fit_SklearnFixtureCaseWithoutMerging_FollowsLibsvm(string name)
    {
        var c = MiaSvmFixture.Get(name);
        var svm = RbfSvm.Fit(c.TrainingFeatures(), c.TrainingLabels(), c.Dimension, new RbfSvmOptions { MergeDuplicates = false });

        var predicted = new bool[c.TargetCount];
        svm.Predict(c.TargetFeatures(), predicted);
        var decision = new double[c.TargetCount];
        svm.Decision(c.TargetFeatures(), decision);
        var agree = Enumerable.Range(0, c.TargetCount).Count(i => predicted[i] == (c.Predictions[i] == 1));
        var maxDecisionError = Enumerable.Range(0, c.TargetCount).Max(i => Math.Abs(decision[i] - c.Decision[i]));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: agreement {agree}/{c.TargetCount}, max |Δdecision| {maxDecisionError:G3}, iterations {svm.Iterations} (sklearn {c.NIter}), nSV {svm.SupportVectorCounts[0]}/{svm.SupportVectorCounts[1]} (sklearn {c.NSupport[0]}/{c.NSupport[1]}), intercept {svm.Intercept:R} vs {c.Intercept:R}"));

        // Same iterates as libsvm: same iteration count, support vectors and bias; decision values agree to the
        // fixture's 9 significant digits.
        Assert.Equal(c.TargetCount, agree);
        Assert.Equal(c.NIter, svm.Iterations);
        Assert.Equal(c.NSupport, svm.SupportVectorCounts);
        Assert.Equal(c.Intercept, svm.Intercept, 1e-12);
        Assert.True(maxDecisionError < 1e-7, $"max |Δdecision| {maxDecisionError}");
    }
}
