using TorchSharp;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Methods;

/// <summary>SSD: Fisher importances, selection and dampening.</summary>
public static class Dampening
{
    /// <summary>
    /// Importance of each trainable parameter entry over <paramref name="indices"/>, in eval mode, unshuffled
    /// batches: the mean over batches of (∇ mean-CE)² — or, label-free, of |∇ mean ‖f(x)‖²|. CPU tensors keyed by
    /// parameter name, with the batch size and kind; the caller owns them. This is what to cache per model version
    /// for the whole training set.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The loss or, in every attempt, the gradients were NaN or infinite.</exception>
    public static SsdImportance Importance(nn.Module<Tensor, Tensor> model, DeviceData data, IReadOnlyList<long> indices,
        int batchSize, bool labelFree, Action<int>? onBatch = null, CancellationToken cancellationToken = default)
    {
        if (indices.Count == 0) throw new ArgumentException("Importance needs at least one sample.", nameof(indices));
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Must be positive.");
        var parameters = model.named_parameters().Where(p => p.parameter.requires_grad).ToArray();
        var trainable = parameters.Select(p => p.parameter).ToArray();
        var sums = parameters.Select(p => torch.zeros_like(p.parameter).DetachFromDisposeScope()).ToArray();
        var batches = 0;
        var wasTraining = model.training;
        model.eval();
        try
        {
            foreach (var batch in Batches.Over(indices, batchSize, data.Device, generator: null))
            {
                using var batchIndices = batch; // owned before anything can throw
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var loss = FiniteGradients.Backward(model, trainable, generator: null, () =>
                {
                    var output = model.forward(data.Features.index_select(0, batch));
                    return labelFree
                        ? output.pow(HeldScalars.Two).flatten(1).sum(1).mean()
                        : Losses.Supervised(output, data.Targets.index_select(0, batch), data.Task);
                });
                FiniteGradients.ThrowIfNonFinite(loss, "the importance pass");
                using (torch.no_grad())
                {
                    for (var i = 0; i < parameters.Length; i++)
                    {
                        var grad = parameters[i].parameter.grad;
                        if (grad is null) continue;
                        sums[i].add_(labelFree ? grad.abs() : grad.pow(HeldScalars.Two), HeldScalars.One);
                    }
                }
                batches++;
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
            foreach (var (_, p) in parameters) p.grad?.zero_();
            model.train(wasTraining);
        }
        var result = new Dictionary<string, Tensor>(parameters.Length);
        using var batchCount = batches.ToScalar();
        for (var i = 0; i < parameters.Length; i++)
        {
            using var sum = sums[i];
            using var scope = torch.NewDisposeScope(); // frees the quotient when it lives on a GPU
            result[parameters[i].name] = sum.div(batchCount).cpu().DetachFromDisposeScope();
        }
        return new SsdImportance(result, batchSize, labelFree);
    }

    /// <summary>
    /// Dampens in place: where I_Df &gt; α·I_D (strict), θ ← min(λ·I_D / I_Df, 1)·θ; elsewhere θ is untouched. β is
    /// computed only at selected positions (where I_Df &gt; 0), so I_D = 0 gives β = 0 and there is no 0/0.
    /// Returns the number of dampened entries.
    /// </summary>
    public static long Dampen(nn.Module<Tensor, Tensor> model, IReadOnlyDictionary<string, Tensor> forgetImportance,
        IReadOnlyDictionary<string, Tensor> trainingImportance, double alpha, double lambda)
    {
        long selected = 0;
        // Scalars held for the whole call: an implicit double → Scalar temporary can be finalized while libtorch reads it.
        using var alphaScalar = alpha.ToScalar();
        using var lambdaScalar = lambda.ToScalar();
        using var one = 1.ToScalar();
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (!p.requires_grad) continue;
            if (!forgetImportance.TryGetValue(name, out var forget) || !trainingImportance.TryGetValue(name, out var training))
                throw new ArgumentException($"No importance for parameter '{name}'.");
            if (!forget.shape.SequenceEqual(p.shape) || !training.shape.SequenceEqual(p.shape))
                throw new ArgumentException($"Importance of '{name}' has the wrong shape.");
            using var scope = torch.NewDisposeScope();
            var iDf = forget.to(p.device);
            var iD = training.to(p.device);
            var selection = iDf.gt(iD.mul(alphaScalar));
            var beta = iD.mul(lambdaScalar).div(iDf.where(selection, 1)).clamp_max(one);
            p.mul_(beta.where(selection, 1));
            selected += selection.sum().item<long>();
        }
        return selected;
    }

    internal static SsdImportance? Run(UnlearningJob job, UnlearningSettings s, bool labelFree,
        Dictionary<string, double> details, IProgress<EngineProgress>? progress, CancellationToken cancellationToken)
    {
        var batch = s.BatchSize!.Value;
        // A cached I_D of another batch size or kind is on another scale than this run's I_Df: computed anew instead.
        var cached = job.TrainingSetImportance is { } given && given.ComputedLike(batch, labelFree) ? given : null;
        var training = job.Forget.Concat(job.Retain).Order().ToList();
        var tracker = new ProgressTracker(progress, job.Forget.Count + (cached is null ? training.Count : 0));
        SsdImportance? computed = null;
        if (cached is null)
        {
            computed = Importance(job.Model, job.Data, training, batch, labelFree, n => tracker.Advance("importance: training set", n), cancellationToken);
            cached = computed;
        }
        SsdImportance? forget = null;
        try
        {
            forget = Importance(job.Model, job.Data, job.Forget, batch, labelFree, n => tracker.Advance("importance: forget set", n), cancellationToken);
            details["dampened_entries"] = Dampen(job.Model, forget.Tensors, cached.Tensors, s.Alpha!.Value, s.Lambda!.Value);
            details["total_entries"] = job.Model.parameters().Where(p => p.requires_grad).Sum(p => (double)p.numel());
            details["importance_cached"] = computed is null ? 1 : 0;
        }
        catch
        {
            // Cancelled or failed after I_D was computed here: nobody else will own it.
            computed?.Dispose();
            throw;
        }
        finally
        {
            forget?.Dispose();
        }
        return computed;
    }
}
