using System.Globalization;

namespace UnlearnService.Engine.Evaluation;

/// <summary>Settings of <see cref="MembershipInference"/>.</summary>
public sealed record MiaOptions
{
    /// <summary>
    /// Values per sample in the feature arrays (row-major). 1 for the specified MIA: the probability of the
    /// true label (classification) or the per-sample loss (regression).
    /// </summary>
    public int FeatureDimension { get; init; } = 1;

    /// <summary>
    /// The attack is reported as uninformative when its accuracy on its own balanced shadow sets is below this
    /// percentage (chance is 50%). Default 55: five points is two standard deviations of a coin's accuracy on
    /// 400 shadow samples, and an SVM fitted to indistinguishable sets scores a little above 50% on its own
    /// training data (52% on 2 × 1,200 in the fixture); below 55% it has found no usable difference between
    /// members and non-members (often it has collapsed to predicting one class for nearly everything).
    /// </summary>
    public double UninformativeBelowPercent { get; init; } = 55.0;

    /// <summary>SVM box constraint (specification: 3).</summary>
    public double C { get; init; } = 3.0;

    /// <summary>RBF γ; null means scikit-learn's gamma='auto', 1 / <see cref="FeatureDimension"/> (so 1).</summary>
    public double? Gamma { get; init; }
}

/// <summary>Result of <see cref="MembershipInference.Evaluate(ReadOnlySpan{double}, ReadOnlySpan{double}, ReadOnlySpan{double}, MiaOptions?, CancellationToken)"/>.</summary>
public sealed record MiaReport
{
    /// <summary>MIA-efficacy: 100 × the fraction of the forget set predicted non-member.</summary>
    public required double Efficacy { get; init; }

    /// <summary>The attack's accuracy on its own 2n shadow samples, in percent (chance is 50).</summary>
    public required double ShadowAccuracy { get; init; }

    /// <summary>False when <see cref="ShadowAccuracy"/> is below the threshold: the MIA then says nothing.</summary>
    public required bool IsInformative { get; init; }

    /// <summary>One sentence for the report, saying whether the MIA can be trusted and why.</summary>
    public required string Assessment { get; init; }

    /// <summary>n = min(|Dr|, |T|): shadow members and shadow non-members each.</summary>
    public required int ShadowSize { get; init; }

    /// <summary>|Df|.</summary>
    public required int ForgetCount { get; init; }

    /// <summary>Forget samples predicted member.</summary>
    public required int ForgetPredictedMembers { get; init; }

    /// <summary>Fraction of the forget set predicted member (in [0, 1]; 1 − Efficacy/100).</summary>
    public double ForgetMemberRate => (double)ForgetPredictedMembers / ForgetCount;

    /// <summary>|T|.</summary>
    public required int TestCount { get; init; }

    /// <summary>Test samples predicted member.</summary>
    public required int TestPredictedMembers { get; init; }

    /// <summary>
    /// Fraction of the whole test set predicted member (in [0, 1]). Its first n samples are the shadow
    /// non-members the SVM was trained on, so this rate leans low, which makes the membership test stricter.
    /// </summary>
    public double TestMemberRate => (double)TestPredictedMembers / TestCount;

    /// <summary>Test samples after the first n (those the SVM never saw) predicted member.</summary>
    public required int HeldOutTestPredictedMembers { get; init; }

    /// <summary>
    /// Fraction of the test samples the SVM never saw (all but the first n) predicted member: an unbiased estimate
    /// of how the attack treats non-members. When every test sample was a shadow sample, <see cref="TestMemberRate"/>.
    /// </summary>
    public double HeldOutTestMemberRate => TestCount > ShadowSize ? (double)HeldOutTestPredictedMembers / (TestCount - ShadowSize) : TestMemberRate;

    /// <summary>
    /// One-sided p-value of H1 "the member-rate on Df is higher than on T" (pooled two-proportion z-test,
    /// <see cref="ProportionTest.OneSidedGreaterPValue"/>). Small values mean Df still looks like training data.
    /// </summary>
    public required double MembershipPValue { get; init; }

    /// <summary>SMO iterations of the attack's SVM.</summary>
    public required long SvmIterations { get; init; }

    /// <summary>False when the SVM stopped at its iteration limit (the result is then approximate).</summary>
    public required bool SvmConverged { get; init; }
}

/// <summary>
/// Membership inference on the forget set, as in SalUn (see ALGORITHMS.md, "Metrics"): an RBF SVM
/// (C = 3, γ = 'auto', agreeing with scikit-learn's SVC) is trained to tell shadow members (the first n
/// retain samples, label 1) from shadow non-members (the first n test samples, label 0), n = min(|Dr|, |T|),
/// and is then asked about the forget set.
/// </summary>
public static class MembershipInference
{
    /// <summary>
    /// Runs the MIA. Each array holds one feature row per sample (row-major, <see cref="MiaOptions.FeatureDimension"/>
    /// values each): for classification the softmax probability of the true label, for regression the loss.
    /// </summary>
    /// <param name="retain">Features of the retain set Dr, in the dataset's order.</param>
    /// <param name="test">Features of the test set T, in the dataset's order.</param>
    /// <param name="forget">Features of the forget set Df.</param>
    /// <param name="options">Settings; null for the specification's.</param>
    /// <param name="cancellationToken">Honoured during the attack's fit.</param>
    /// <exception cref="ArgumentException">A set is empty, a length is not a multiple of the dimension, or a feature is not finite.</exception>
    public static MiaReport Evaluate(ReadOnlySpan<double> retain, ReadOnlySpan<double> test, ReadOnlySpan<double> forget, MiaOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new MiaOptions();
        var d = options.FeatureDimension;
        ArgumentOutOfRangeException.ThrowIfLessThan(d, 1, nameof(options));
        var retainCount = Count(retain, d, nameof(retain));
        var testCount = Count(test, d, nameof(test));
        var forgetCount = Count(forget, d, nameof(forget));

        var n = Math.Min(retainCount, testCount);
        var shadow = new double[2 * n * d];
        retain[..(n * d)].CopyTo(shadow);
        test[..(n * d)].CopyTo(shadow.AsSpan(n * d));
        var isMember = new bool[2 * n];
        isMember.AsSpan(0, n).Fill(true);

        var svm = RbfSvm.Fit(shadow, isMember, d, new RbfSvmOptions { C = options.C, Gamma = options.Gamma }, cancellationToken);

        // One batch for shadow, forget and test samples: in one dimension equal values are computed once, and
        // the first n test samples are shadow samples already.
        var all = new double[shadow.Length + forget.Length + test.Length];
        shadow.CopyTo(all, 0);
        forget.CopyTo(all.AsSpan(shadow.Length));
        test.CopyTo(all.AsSpan(shadow.Length + forget.Length));
        var predicted = new bool[(2 * n) + forgetCount + testCount];
        svm.Predict(all, predicted);

        var correct = 0;
        for (var i = 0; i < 2 * n; i++)
        {
            if (predicted[i] == isMember[i])
            {
                correct++;
            }
        }

        var forgetMembers = CountTrue(predicted.AsSpan(2 * n, forgetCount));
        var testMembers = CountTrue(predicted.AsSpan((2 * n) + forgetCount, testCount));
        var shadowAccuracy = 100.0 * correct / (2 * n);
        var informative = shadowAccuracy >= options.UninformativeBelowPercent;
        var assessment = informative
            ? string.Create(CultureInfo.InvariantCulture,
                $"The attack separates its own shadow sets with {shadowAccuracy:F1}% accuracy (chance is 50%).")
            : string.Create(CultureInfo.InvariantCulture,
                $"MIA uninformative: the attack's accuracy on its own shadow sets is {shadowAccuracy:F1}% (chance is 50%, threshold {options.UninformativeBelowPercent:F1}%), so MIA-efficacy says nothing about forgetting.");

        return new MiaReport
        {
            Efficacy = 100.0 * (forgetCount - forgetMembers) / forgetCount,
            ShadowAccuracy = shadowAccuracy,
            IsInformative = informative,
            Assessment = assessment,
            ShadowSize = n,
            ForgetCount = forgetCount,
            ForgetPredictedMembers = forgetMembers,
            TestCount = testCount,
            TestPredictedMembers = testMembers,
            HeldOutTestPredictedMembers = CountTrue(predicted.AsSpan((2 * n) + forgetCount + n, testCount - n)),
            MembershipPValue = ProportionTest.OneSidedGreaterPValue(forgetMembers, forgetCount, testMembers, testCount),
            SvmIterations = svm.Iterations,
            SvmConverged = svm.Converged,
        };
    }

    /// <summary>
    /// <see cref="Evaluate(ReadOnlySpan{double}, ReadOnlySpan{double}, ReadOnlySpan{double}, MiaOptions?, CancellationToken)"/> for
    /// float features (as a model produces them); they are widened to double exactly.
    /// </summary>
    /// <param name="retain">Features of the retain set Dr, in the dataset's order.</param>
    /// <param name="test">Features of the test set T, in the dataset's order.</param>
    /// <param name="forget">Features of the forget set Df.</param>
    /// <param name="options">Settings; null for the specification's.</param>
    /// <param name="cancellationToken">Honoured during the attack's fit.</param>
    public static MiaReport Evaluate(ReadOnlySpan<float> retain, ReadOnlySpan<float> test, ReadOnlySpan<float> forget, MiaOptions? options = null,
        CancellationToken cancellationToken = default)
        => Evaluate(Widen(retain), Widen(test), Widen(forget), options, cancellationToken);

    private static double[] Widen(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            result[i] = values[i];
        }

        return result;
    }

    private static int Count(ReadOnlySpan<double> features, int dimension, string name)
    {
        if (features.Length == 0)
        {
            throw new ArgumentException("The set is empty.", name);
        }

        if (features.Length % dimension != 0)
        {
            throw new ArgumentException($"Length {features.Length} is not a multiple of the feature dimension {dimension}.", name);
        }

        foreach (var v in features)
        {
            if (!double.IsFinite(v))
            {
                throw new ArgumentException("Features must be finite.", name);
            }
        }

        return features.Length / dimension;
    }

    private static int CountTrue(ReadOnlySpan<bool> values)
    {
        var count = 0;
        foreach (var v in values)
        {
            if (v)
            {
                count++;
            }
        }

        return count;
    }
}
