using UnlearnService.Engine.Evaluation;

namespace UnlearnService.Engine.Tests.Evaluation;

public sealed class MiaProportionTestTests
{
    // Reference values: 0.5·erfc(z/√2) from Python's math.erfc.
    [Theory]
    [InlineData(0.0, 0.5)]
    [InlineData(0.5, 0.3085375387259869)]
    [InlineData(1.6448536269514722, 0.05000000000000007)]
    [InlineData(1.959963984540054, 0.02500000000000002)]
    [InlineData(3.0, 0.0013498980316300957)]
    [InlineData(8.0, 6.220960574271819e-16)]
    [InlineData(-1.959963984540054, 0.975)]
    [InlineData(-3.0, 0.9986501019683699)]
    public void NormalUpperTail_KnownPoint_MatchesErfc(double z, double expected)
    {
        var actual = ProportionTest.NormalUpperTail(z);

        Assert.True(Math.Abs(actual - expected) <= 1e-13 * Math.Max(expected, 1e-300) + 1e-16, $"{actual:R} vs {expected:R}");
    }

    [Theory]
    [InlineData(60, 100, 45, 100, 0.016836034428172938)]
    [InlineData(430, 500, 8100, 10000, 0.0025970416557012954)]
    public void OneSidedGreaterPValue_KnownCounts_MatchesPooledZTest(int x1, int n1, int x2, int n2, double expected)
    {
        var p = ProportionTest.OneSidedGreaterPValue(x1, n1, x2, n2);

        Assert.Equal(expected, p, 1e-12);
    }

    [Fact]
    public void OneSidedGreaterPValue_LowerRateInFirstSample_IsAboveHalf()
    {
        var p = ProportionTest.OneSidedGreaterPValue(45, 100, 60, 100);

        Assert.Equal(1 - 0.016836034428172938, p, 1e-12);
    }

    [Theory]
    [InlineData(0, 50, 0, 80)]
    [InlineData(50, 50, 80, 80)]
    public void OneSidedGreaterPValue_AllTrialsSameOutcome_IsHalf(int x1, int n1, int x2, int n2)
    {
        Assert.Equal(0.5, ProportionTest.OneSidedGreaterPValue(x1, n1, x2, n2));
    }

    [Theory]
    [InlineData(11, 10, 1, 10)]
    [InlineData(-1, 10, 1, 10)]
    [InlineData(1, 0, 1, 10)]
    public void OneSidedGreaterPValue_InvalidCounts_Throws(int x1, int n1, int x2, int n2)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ProportionTest.OneSidedGreaterPValue(x1, n1, x2, n2));
    }
}
