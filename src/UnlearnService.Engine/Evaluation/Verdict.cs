using System.Text.Json.Serialization;
using UnlearnService.Engine.Formats;

namespace UnlearnService.Engine.Evaluation;

/// <summary>What was asked to be forgotten; decides which verdict criteria apply.</summary>
[JsonConverter(typeof(EnumNameConverter<ForgetKind>))]
public enum ForgetKind
{
    /// <summary>Individual samples.</summary>
    Samples,

    /// <summary>All samples of some data subjects.</summary>
    Subjects,

    /// <summary>A whole class.</summary>
    Class,
}

/// <summary>The declared thresholds a run is judged against; stored with the run.</summary>
public sealed record VerdictThresholds
{
    /// <summary>Membership: the one-sided p-value that Df's member rate exceeds T's must be at least this.</summary>
    public double MembershipAlpha { get; init; } = 0.05;

    /// <summary>Class forgetting: accuracy on the forgotten class at most 100/K + this many points.</summary>
    public double ClassAccuracyMarginPoints { get; init; } = 2;

    /// <summary>Utility: TA and RA may drop at most this many points from the base version.</summary>
    public double MaxUtilityDropPoints { get; init; } = 2;
}

/// <summary>Outcome of one criterion.</summary>
[JsonConverter(typeof(EnumNameConverter<CriterionOutcome>))]
public enum CriterionOutcome
{
    /// <summary>Met.</summary>
    Pass,

    /// <summary>Not met.</summary>
    Fail,

    /// <summary>The evidence cannot decide (e.g. an attack that cannot tell members from non-members at all).</summary>
    Inconclusive,
}

/// <summary>One checked criterion with its measured value and threshold.</summary>
public sealed record VerdictCriterion(string Name, CriterionOutcome Outcome, double Value, double Threshold, string Explanation);

/// <summary>The verdict of a run: passed when no criterion failed.</summary>
public sealed record Verdict(bool Passed, IReadOnlyList<VerdictCriterion> Criteria, VerdictThresholds Thresholds)
{
    /// <summary>The verdict on a run that diverged (NaN or infinite loss or weights): failed, with the reason.</summary>
    public static Verdict Diverged(string reason, VerdictThresholds? thresholds = null) =>
        new(false, [new VerdictCriterion("converged", CriterionOutcome.Fail, 0, 1, reason)], thresholds ?? new VerdictThresholds());

    /// <summary>
    /// Judges <paramref name="after"/> against <paramref name="before"/> (the base version) without a retrained
    /// model, as ALGORITHMS.md specifies. Regression utility uses MSE increases relative to the base (in percent).
    /// </summary>
    public static Verdict Judge(UnlearningMetrics before, UnlearningMetrics after, ForgetKind kind, int classCount, VerdictThresholds? thresholds = null)
    {
        thresholds ??= new VerdictThresholds();
        var criteria = new List<VerdictCriterion>();
        if (kind == ForgetKind.Class && after.ForgetAccuracy is { } forgetAccuracy)
        {
            var limit = 100.0 / classCount + thresholds.ClassAccuracyMarginPoints;
            criteria.Add(new VerdictCriterion("class_forgotten", forgetAccuracy <= limit ? CriterionOutcome.Pass : CriterionOutcome.Fail,
                forgetAccuracy, limit, $"accuracy on the forgotten class {forgetAccuracy:F2}% vs at most {limit:F2}% (chance + margin)"));
        }
        else
        {
            var p = after.Mia.MembershipPValue;
            var outcome = !after.Mia.IsInformative && !before.Mia.IsInformative
                ? CriterionOutcome.Inconclusive
                : p >= thresholds.MembershipAlpha ? CriterionOutcome.Pass : CriterionOutcome.Fail;
            criteria.Add(new VerdictCriterion("membership", outcome, p, thresholds.MembershipAlpha,
                outcome == CriterionOutcome.Inconclusive
                    ? $"the attack cannot tell members from non-members even before unlearning (shadow accuracy {before.Mia.ShadowAccuracy:F1}%): no evidence either way"
                    : $"member rate on Df {100 * after.Mia.ForgetMemberRate:F1}% vs on T {100 * after.Mia.TestMemberRate:F1}%, one-sided p = {p:G3}"));
        }

        if (after.TestAccuracy is not null)
        {
            AddDrop(criteria, "test_accuracy", before.TestAccuracy!.Value, after.TestAccuracy.Value, thresholds.MaxUtilityDropPoints);
            AddDrop(criteria, "retain_accuracy", before.RetainAccuracy!.Value, after.RetainAccuracy!.Value, thresholds.MaxUtilityDropPoints);
        }
        else
        {
            AddIncrease(criteria, "test_mse", before.TestMse!.Value, after.TestMse!.Value, thresholds.MaxUtilityDropPoints);
            AddIncrease(criteria, "retain_mse", before.RetainMse!.Value, after.RetainMse!.Value, thresholds.MaxUtilityDropPoints);
        }
        return new Verdict(criteria.All(c => c.Outcome != CriterionOutcome.Fail), criteria, thresholds);
    }

    static void AddDrop(List<VerdictCriterion> criteria, string name, double before, double after, double maxDrop)
    {
        var drop = before - after;
        criteria.Add(new VerdictCriterion(name, drop <= maxDrop ? CriterionOutcome.Pass : CriterionOutcome.Fail, drop, maxDrop,
            $"{before:F2}% → {after:F2}% (drop {drop:F2} points, at most {maxDrop:F2})"));
    }

    static void AddIncrease(List<VerdictCriterion> criteria, string name, double before, double after, double maxPercent)
    {
        var increase = before > 0 ? 100 * (after - before) / before : (after > before ? double.PositiveInfinity : 0);
        criteria.Add(new VerdictCriterion(name, increase <= maxPercent ? CriterionOutcome.Pass : CriterionOutcome.Fail, increase, maxPercent,
            $"{before:G4} → {after:G4} (+{increase:F2}%, at most {maxPercent:F2}%)"));
    }
}
