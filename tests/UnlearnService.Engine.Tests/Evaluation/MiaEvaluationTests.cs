using UnlearnService.Engine.Evaluation;

namespace UnlearnService.Engine.Tests.Evaluation;

public sealed class MiaEvaluationTests
{
    public static TheoryData<string> BalancedCaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in MiaSvmFixture.Cases.Where(c => c.MemberCount == c.NonMemberCount))
        {
            data.Add(c.Name);
        }

        return data;
    }

    // With |Dr| = |T| the MIA's SVM is the fixture's SVM: members = Dr, non-members = T, targets = Df.
    [Theory]
    [MemberData(nameof(BalancedCaseNames))]
    public void Evaluate_BalancedFixtureCase_MatchesSklearnEfficacyAndShadowAccuracy(string name)
    {
        var c = MiaSvmFixture.Get(name);

        var report = MembershipInference.Evaluate(c.Members, c.NonMembers, c.Targets, new MiaOptions { FeatureDimension = c.Dimension });

        Assert.Equal(c.MemberCount, report.ShadowSize);
        Assert.True(Math.Abs(report.Efficacy - c.SklearnEfficacy) <= 0.5, $"efficacy {report.Efficacy} vs sklearn {c.SklearnEfficacy}");
        Assert.True(Math.Abs(report.ShadowAccuracy - (100 * c.ShadowAccuracy)) <= 0.5, $"shadow accuracy {report.ShadowAccuracy} vs sklearn {100 * c.ShadowAccuracy}");
        Assert.Equal(report.Efficacy, 100 * (1 - report.ForgetMemberRate), 9);
    }

    [Fact]
    public void Evaluate_RetainLargerThanTest_UsesFirstNOfRetain()
    {
        var rng = new Random(5);
        var retain = MiaSyntheticFeatures.TrainProbabilities(rng, 700);
        var test = MiaSyntheticFeatures.TestProbabilities(rng, 500);
        var forget = MiaSyntheticFeatures.Mixed(rng, 300, 0.5);
        // Samples past n must not take part: make them absurd.
        for (var i = 500; i < retain.Length; i++)
        {
            retain[i] = 0.0f;
        }

        var full = MembershipInference.Evaluate(retain, test, forget);
        var truncated = MembershipInference.Evaluate(retain.AsSpan(0, 500), test, forget);

        Assert.Equal(500, full.ShadowSize);
        Assert.Equal(truncated.Efficacy, full.Efficacy);
        Assert.Equal(truncated.ShadowAccuracy, full.ShadowAccuracy);
        Assert.Equal(truncated.ForgetPredictedMembers, full.ForgetPredictedMembers);
    }

    [Fact]
    public void Evaluate_TestLargerThanRetain_UsesFirstNOfTestButRatesAllOfIt()
    {
        var rng = new Random(6);
        var retain = MiaSyntheticFeatures.TrainProbabilities(rng, 300);
        var test = MiaSyntheticFeatures.TestProbabilities(rng, 800);
        var forget = MiaSyntheticFeatures.Mixed(rng, 200, 0.5);

        var report = MembershipInference.Evaluate(retain, test, forget);
        var shadowOnly = MembershipInference.Evaluate(retain, test.AsSpan(0, 300), forget);

        Assert.Equal(300, report.ShadowSize);
        Assert.Equal(shadowOnly.Efficacy, report.Efficacy);
        Assert.Equal(800, report.TestCount);
        Assert.NotEqual(shadowOnly.TestPredictedMembers, report.TestPredictedMembers);
        // The unseen part is the whole set less the shadow non-members (the same SVM, so the same predictions on those).
        Assert.Equal(report.TestPredictedMembers - shadowOnly.TestPredictedMembers, report.HeldOutTestPredictedMembers);
        Assert.Equal((double)report.HeldOutTestPredictedMembers / 500, report.HeldOutTestMemberRate);
        Assert.Equal(shadowOnly.TestMemberRate, shadowOnly.HeldOutTestMemberRate);
    }

    [Fact]
    public void Evaluate_IndistinguishableShadowSets_ReportsUninformative()
    {
        var c = MiaSvmFixture.Get("indistinguishable");

        var report = MembershipInference.Evaluate(c.Members, c.NonMembers, c.Targets);

        Assert.True(report.ShadowAccuracy < 55, $"shadow accuracy {report.ShadowAccuracy}");
        Assert.False(report.IsInformative);
        Assert.StartsWith("MIA uninformative", report.Assessment);
    }

    [Fact]
    public void Evaluate_DistinctShadowSets_ReportsInformative()
    {
        var c = MiaSvmFixture.Get("large_balanced");

        var report = MembershipInference.Evaluate(c.Members, c.NonMembers, c.Targets);

        Assert.True(report.IsInformative, report.Assessment);
        Assert.DoesNotContain("uninformative", report.Assessment);
    }

    [Fact]
    public void Evaluate_ForgetSetLooksLikeTraining_SmallMembershipPValue()
    {
        var rng = new Random(8);
        var retain = MiaSyntheticFeatures.TrainProbabilities(rng, 1000);
        var test = MiaSyntheticFeatures.TestProbabilities(rng, 1000);

        var remembered = MembershipInference.Evaluate(retain, test, MiaSyntheticFeatures.TrainProbabilities(rng, 300));
        var forgotten = MembershipInference.Evaluate(retain, test, MiaSyntheticFeatures.TestProbabilities(rng, 300));

        Assert.True(remembered.ForgetMemberRate > remembered.TestMemberRate);
        Assert.True(remembered.MembershipPValue < 0.05, $"p = {remembered.MembershipPValue}");
        Assert.True(forgotten.MembershipPValue >= 0.05, $"p = {forgotten.MembershipPValue}");
        Assert.Equal(
            ProportionTest.OneSidedGreaterPValue(remembered.ForgetPredictedMembers, remembered.ForgetCount, remembered.TestPredictedMembers, remembered.TestCount),
            remembered.MembershipPValue);
    }

    [Fact]
    public void Evaluate_FloatAndDoubleFeatures_SameReport()
    {
        var c = MiaSvmFixture.Get("small_balanced");
        static double[] Wide(float[] v) => [.. v.Select(f => (double)f)];

        var fromFloat = MembershipInference.Evaluate(c.Members, c.NonMembers, c.Targets);
        var fromDouble = MembershipInference.Evaluate(Wide(c.Members), Wide(c.NonMembers), Wide(c.Targets));

        Assert.Equal(fromDouble, fromFloat);
    }

    [Fact]
    public void Evaluate_EmptyForgetSet_Throws()
    {
        Assert.Throws<ArgumentException>(() => MembershipInference.Evaluate([0.9f, 1.0f], [0.5f, 0.7f], ReadOnlySpan<float>.Empty));
    }

    [Fact]
    public void Evaluate_LengthNotMultipleOfDimension_Throws()
    {
        Assert.Throws<ArgumentException>(() =>
            MembershipInference.Evaluate([0.9f, 1.0f, 0.8f], [0.5f, 0.7f], [0.6f, 0.6f], new MiaOptions { FeatureDimension = 2 }));
    }
}
