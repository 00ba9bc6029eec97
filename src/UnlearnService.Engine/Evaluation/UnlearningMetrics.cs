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
    /// (classification) or the per-sample loss (regression).
    /// </summary>
    public static UnlearningMetrics Measure(nn.Module<Tensor, Tensor> model, DeviceData data,
        IReadOnlyList<long> forget, IReadOnlyList<long> retain, IReadOnlyList<long> test)
    {
        var f = Predictions.Of(model, data, forget);
        var r = Predictions.Of(model, data, retain);
        var t = Predictions.Of(model, data, test);
        if (data.Task == TaskKind.Classification)
        {
            return new UnlearningMetrics
            {
                ForgetCount = f.Count, RetainCount = r.Count, TestCount = t.Count,
                ForgetAccuracy = f.AccuracyPercent, RetainAccuracy = r.AccuracyPercent, TestAccuracy = t.AccuracyPercent,
                Mia = MembershipInference.Evaluate(r.TrueLabelProbability, t.TrueLabelProbability, f.TrueLabelProbability),
            };
        }
        return new UnlearningMetrics
        {
            ForgetCount = f.Count, RetainCount = r.Count, TestCount = t.Count,
            ForgetMse = f.MeanLoss, RetainMse = r.MeanLoss, TestMse = t.MeanLoss,
            Mia = MembershipInference.Evaluate(r.Loss, t.Loss, f.Loss),
        };
    }

    /// <summary>
    /// Avg. Gap to a retrained model: the mean over UA, RA, TA and MIA-efficacy of |this − retrain| (lower is
    /// better). Regression: the mean over forget/retain/test MSE and MIA-efficacy.
    /// </summary>
    public double AverageGap(UnlearningMetrics retrain)
    {
        double[] gaps = ForgetAccuracy is not null
            ?
            [
                Math.Abs(UnlearningAccuracy!.Value - retrain.UnlearningAccuracy!.Value),
                Math.Abs(RetainAccuracy!.Value - retrain.RetainAccuracy!.Value),
                Math.Abs(TestAccuracy!.Value - retrain.TestAccuracy!.Value),
                Math.Abs(Mia.Efficacy - retrain.Mia.Efficacy),
            ]
            :
            [
                Math.Abs(ForgetMse!.Value - retrain.ForgetMse!.Value),
                Math.Abs(RetainMse!.Value - retrain.RetainMse!.Value),
                Math.Abs(TestMse!.Value - retrain.TestMse!.Value),
                Math.Abs(Mia.Efficacy - retrain.Mia.Efficacy),
            ];
        return gaps.Average();
    }
}
