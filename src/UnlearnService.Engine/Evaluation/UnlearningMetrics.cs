using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Evaluation;

/// <summary>
/// ALGORITHMS.md's metrics of one model on a forget/retain/test partition, all in eval mode without
/// augmentation, accuracies per sample, in percent. Classification fills the accuracies; regression the MSEs.
/// </summary>
public sealed record UnlearningMetrics
{
    /// <summary>Version of these definitions; stored with every metric so reports stay comparable.</summary>
    public const string DefinitionVersion = "unlearn-metrics/1";

    /// <summary>|Df|.</summary>
    public required int ForgetCount { get; init; }

    /// <summary>|Dr|.</summary>
    public required int RetainCount { get; init; }

    /// <summary>|T| (class forgetting: without the forgotten class).</summary>
    public required int TestCount { get; init; }

    /// <summary>Accuracy on Df (classification).</summary>
    public double? ForgetAccuracy { get; init; }

    /// <summary>RA: accuracy on Dr (classification).</summary>
    public double? RetainAccuracy { get; init; }

    /// <summary>TA: accuracy on T (classification).</summary>
    public double? TestAccuracy { get; init; }

    /// <summary>UA = 100 − accuracy on Df (classification).</summary>
    public double? UnlearningAccuracy => 100 - ForgetAccuracy;

    /// <summary>MSE on Df (regression).</summary>
    public double? ForgetMse { get; init; }

    /// <summary>MSE on Dr (regression).</summary>
    public double? RetainMse { get; init; }

    /// <summary>MSE on T (regression).</summary>
    public double? TestMse { get; init; }

    /// <summary>The membership-inference attack: MIA-efficacy, its shadow accuracy and member rates.</summary>
    public required MiaReport Mia { get; init; }

    /// <summary>
    /// Evaluates <paramref name="model"/> on the three sets. The MIA feature is the probability of the true label
    /// (classification) or the per-sample loss (regression). Cancellable between batches and during the attack's fit.
    /// </summary>
    public static UnlearningMetrics Measure(nn.Module<Tensor, Tensor> model, DeviceData data,
        IReadOnlyList<long> forget, IReadOnlyList<long> retain, IReadOnlyList<long> test, CancellationToken cancellationToken = default)
    {
        var f = Predictions.Of(model, data, forget, cancellationToken: cancellationToken);
        var r = Predictions.Of(model, data, retain, cancellationToken: cancellationToken);
        var t = Predictions.Of(model, data, test, cancellationToken: cancellationToken);
        if (data.Task == TaskKind.Classification)
        {
            return new UnlearningMetrics
            {
                ForgetCount = f.Count, RetainCount = r.Count, TestCount = t.Count,
                ForgetAccuracy = f.AccuracyPercent, RetainAccuracy = r.AccuracyPercent, TestAccuracy = t.AccuracyPercent,
                Mia = MembershipInference.Evaluate(r.TrueLabelProbability, t.TrueLabelProbability, f.TrueLabelProbability, cancellationToken: cancellationToken),
            };
        }
        return new UnlearningMetrics
        {
            ForgetCount = f.Count, RetainCount = r.Count, TestCount = t.Count,
            ForgetMse = f.MeanLoss, RetainMse = r.MeanLoss, TestMse = t.MeanLoss,
            Mia = MembershipInference.Evaluate(r.Loss, t.Loss, f.Loss, cancellationToken: cancellationToken),
        };
    }

    /// <summary>
    /// Avg. Gap to a retrained model: the mean over UA, RA, TA and MIA-efficacy of |this − retrain| (lower is
    /// better). Regression: the mean over forget/retain/test MSE and MIA-efficacy.
    /// </summary>
    public double AverageGap(UnlearningMetrics retrain) => AverageGap(
        retrain.ForgetAccuracy ?? retrain.ForgetMse!.Value, retrain.RetainAccuracy ?? retrain.RetainMse!.Value,
        retrain.TestAccuracy ?? retrain.TestMse!.Value, retrain.Mia.Efficacy);

    /// <summary>
    /// Avg. Gap to reference figures: accuracies in percent (regression: MSEs) on Df, Dr and T, and MIA-efficacy.
    /// |UA − UA'| equals the gap in forget accuracy, so accuracies stand in for UA.
    /// </summary>
    public double AverageGap(double forget, double retain, double test, double miaEfficacy)
    {
        var (f, r, t) = ForgetAccuracy is { } accuracy
            ? (accuracy, RetainAccuracy!.Value, TestAccuracy!.Value)
            : (ForgetMse!.Value, RetainMse!.Value, TestMse!.Value);
        return (Math.Abs(f - forget) + Math.Abs(r - retain) + Math.Abs(t - test) + Math.Abs(Mia.Efficacy - miaEfficacy)) / 4;
    }
}
