using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Evaluation;

/// <summary>Per-sample outputs of a model on a set of samples, in eval mode without augmentation.</summary>
public sealed class Predictions
{
    internal Predictions(bool[] correct, float[] trueLabelProbability, float[] loss)
    {
        Correct = correct;
        TrueLabelProbability = trueLabelProbability;
        Loss = loss;
    }

    /// <summary>Classification: whether the arg-max class is the label. Regression: empty.</summary>
    public bool[] Correct { get; }

    /// <summary>Classification: softmax probability of the true label (the MIA feature). Regression: empty.</summary>
    public float[] TrueLabelProbability { get; }

    /// <summary>Per-sample loss: cross-entropy, or squared error averaged over target dimensions.</summary>
    public float[] Loss { get; }

    /// <summary>Number of samples.</summary>
    public int Count => Loss.Length;

    /// <summary>Accuracy in percent, per sample (not a mean of batch means); NaN for an empty set.</summary>
    public double AccuracyPercent => Correct.Length == 0 ? double.NaN : 100.0 * Correct.Count(c => c) / Correct.Length;

    /// <summary>Mean loss (the MSE for regression); NaN for an empty set.</summary>
    public double MeanLoss => Loss.Length == 0 ? double.NaN : Loss.Average(l => (double)l);

    /// <summary>Runs <paramref name="model"/> over <paramref name="indices"/> in eval mode under no_grad, cancellable between batches.</summary>
    /// <exception cref="TrainingDivergedException">The model's outputs are NaN or infinite.</exception>
    public static Predictions Of(nn.Module<Tensor, Tensor> model, DeviceData data, IReadOnlyList<long> indices, int batchSize = 1024,
        CancellationToken cancellationToken = default)
    {
        var classification = data.Task == TaskKind.Classification;
        var correct = new List<bool>(classification ? indices.Count : 0);
        var probability = new List<float>(classification ? indices.Count : 0);
        var loss = new List<float>(indices.Count);
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            foreach (var batch in Batches.Over(indices, batchSize, data.Device, generator: null))
            {
                using var batchIndices = batch;
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var output = model.forward(data.Features.index_select(0, batch));
                // Finite weights can still overflow to infinite outputs (a run that was diverging when it stopped).
                if (!torch.isfinite(output).all().item<bool>())
                    throw new TrainingDivergedException("The model's outputs are NaN or infinite: its weights diverged or overflow.");
                var y = data.Targets.index_select(0, batch);
                if (classification)
                {
                    var logProbabilities = nn.functional.log_softmax(output, 1);
                    var trueLog = logProbabilities.gather(1, y.unsqueeze(1)).squeeze(1);
                    loss.AddRange(trueLog.neg().cpu().data<float>().ToArray());
                    probability.AddRange(trueLog.exp().cpu().data<float>().ToArray());
                    correct.AddRange(output.argmax(1).eq(y).cpu().data<bool>().ToArray());
                }
                else
                {
                    var squared = (output - y.reshape(output.shape)).pow(HeldScalars.Two).reshape(output.shape[0], -1).mean([1]);
                    loss.AddRange(squared.cpu().data<float>().ToArray());
                }
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return new Predictions(correct.ToArray(), probability.ToArray(), loss.ToArray());
    }
}
