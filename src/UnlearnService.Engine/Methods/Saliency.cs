using TorchSharp;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Methods;

/// <summary>SalUn's weight saliency and its global mask.</summary>
internal static class Saliency
{
    /// <summary>
    /// Batch size of the saliency pass, whatever the update's (ALGORITHMS.md fixes it). In eval mode it changes G only
    /// by how much the last, smaller batch weighs, and the ranking not at all by scale.
    /// </summary>
    public const int BatchSize = 256;

    /// <summary>
    /// Gradient of L = −mean CE over the forget set with true labels, summed over shuffled batches (augmented as in
    /// training, when the recipe augments), in eval mode (BatchNorm uses running statistics). One tensor per trainable
    /// parameter, in parameter order.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The loss or, in every attempt, the gradients were NaN or infinite.</exception>
    public static Tensor[] Gradient(nn.Module<Tensor, Tensor> model, DeviceData data, IReadOnlyList<long> forget, int batchSize,
        Generator generator, Augmentation? augmentation, Action<int>? onBatch, CancellationToken cancellationToken)
    {
        var parameters = model.parameters().Where(p => p.requires_grad).ToArray();
        var sums = parameters.Select(p => torch.zeros_like(p).DetachFromDisposeScope()).ToArray();
        var wasTraining = model.training;
        model.eval();
        try
        {
            foreach (var batch in Batches.Over(forget, batchSize, data.Device, generator))
            {
                using var batchIndices = batch; // owned before anything can throw
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var loss = FiniteGradients.Backward(model, parameters, generator, () =>
                {
                    var x = data.Features.index_select(0, batch);
                    var output = model.forward(augmentation is null ? x : augmentation.Apply(x, generator));
                    return -Losses.Supervised(output, data.Targets.index_select(0, batch), data.Task);
                });
                FiniteGradients.ThrowIfNonFinite(loss, "the saliency pass over the forget set");
                using (torch.no_grad())
                {
                    for (var i = 0; i < parameters.Length; i++)
                    {
                        var grad = parameters[i].grad;
                        if (grad is not null) sums[i].add_(grad, HeldScalars.One);
                    }
                }
                onBatch?.Invoke((int)batch.shape[0]);
            }
        }
        catch
        {
            // Cancellation or a failing batch: the sums live outside every dispose scope, so free them here.
            foreach (var sum in sums) sum.Dispose();
            throw;
        }
        finally
        {
            foreach (var p in parameters) p.grad?.zero_();
            model.train(wasTraining);
        }
        return sums;
    }

    /// <summary>
    /// The 0/1 mask selecting exactly ⌊r·N⌋ entries with the largest saliency |G| over all parameters together
    /// (one global ranking). Ties are broken by position (a stable sort), so the mask is deterministic.
    /// </summary>
    public static Tensor[] Mask(nn.Module<Tensor, Tensor> model, DeviceData data, IReadOnlyList<long> forget, double ratio, int batchSize,
        Generator generator, Augmentation? augmentation, Action<int>? onBatch, CancellationToken cancellationToken)
    {
        var gradients = Gradient(model, data, forget, batchSize, generator, augmentation, onBatch, cancellationToken);
        try
        {
            return FromSaliency(gradients, ratio);
        }
        finally
        {
            foreach (var g in gradients) g.Dispose();
        }
    }

    /// <summary>The global top-⌊r·N⌋ mask of |G|, split back into parameter shapes (float 0/1 on G's device).</summary>
    public static Tensor[] FromSaliency(IReadOnlyList<Tensor> gradients, double ratio)
    {
        if (!(ratio > 0 && ratio <= 1)) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "The mask ratio must be in (0, 1].");
        using var scope = torch.NewDisposeScope();
        var flat = torch.cat(gradients.Select(g => g.abs().flatten()).ToArray());
        var total = flat.numel();
        // In decimal: the double product can land just below an integer (0.57 × 100 = 56.999…) and lose an entry.
        var keep = (long)decimal.Floor((decimal)ratio * total);
        var mask = torch.zeros_like(flat);
        if (keep > 0)
        {
            var (_, order) = torch.sort(flat, dim: 0, descending: true, stable: true);
            using var one = 1.ToScalar(); // held for the call (engine README: Scalars)
            mask.index_fill_(0, order.narrow(0, 0, keep), one);
        }
        var masks = new Tensor[gradients.Count];
        long offset = 0;
        for (var i = 0; i < gradients.Count; i++)
        {
            var n = gradients[i].numel();
            masks[i] = mask.narrow(0, offset, n).reshape(gradients[i].shape).clone().MoveToOuterDisposeScope();
            offset += n;
        }
        return masks;
    }
}
