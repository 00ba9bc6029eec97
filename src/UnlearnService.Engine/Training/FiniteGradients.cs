using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Training;

/// <summary>
/// One backward pass whose gradients are checked. libtorch 2.10's oneDNN convolutions with few channels (2 and 4 seen)
/// intermittently return NaN gradients at a perfectly finite loss when their intra-op threads are preempted
/// (engine README: Faulty gradients). Such a step is recomputed from the state it started in: the generator (which
/// shuffled, augmented and drew random labels) and the model's buffers (BatchNorm statistics) are restored first, so
/// a recovered step is bit-identical to one that never faulted.
/// </summary>
internal static class FiniteGradients
{
    /// <summary>Attempts of one step before the fault is reported.</summary>
    public const int MaxAttempts = 3;

    [ThreadStatic] static long _recomputedOnThisThread;

    /// <summary>Steps recomputed on the calling thread so far: a run's share is the difference across it (runs are synchronous).</summary>
    public static long RecomputedOnThisThread => _recomputedOnThisThread;

    /// <summary>
    /// Zeroes <paramref name="parameters"/>' gradients and backpropagates <paramref name="lossOf"/>() (which builds the
    /// batch, runs the model and returns the loss, in the caller's dispose scope). Returns the loss. A non-finite loss
    /// is returned as it is: that is divergence, the caller's to report, not a kernel fault.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The gradients were non-finite in every attempt: the model's own, not a fault.</exception>
    public static float Backward(nn.Module<Tensor, Tensor> model, IReadOnlyList<Parameter> parameters, Generator? generator, Func<Tensor> lossOf)
    {
        using var generatorState = generator?.get_state();
        var buffers = model.training ? SnapshotBuffers(model) : [];
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                foreach (var p in parameters) p.grad?.zero_();
                var loss = lossOf();
                loss.backward();
                var value = loss.item<float>();
                if (!float.IsFinite(value) || AllFinite(parameters)) return value;
                if (attempt == MaxAttempts)
                    // A kernel fault does not repeat itself step after step; gradients that overflow do.
                    throw new TrainingDivergedException(
                        $"The run diverged: the gradients were NaN or infinite at a finite loss ({value:G4}) in {MaxAttempts} attempts of the same step; a lower learning rate may converge.");
                _recomputedOnThisThread++;
                if (generatorState is not null) generator!.set_state(generatorState);
                RestoreBuffers(buffers);
            }
        }
        finally
        {
            foreach (var (_, copy) in buffers) copy.Dispose();
        }
    }

    /// <summary>
    /// For the passes that only accumulate gradients (saliency, importances): a non-finite loss there means the
    /// model's outputs are NaN or overflow, and its gradients would silently poison the mask or the dampening.
    /// </summary>
    /// <exception cref="TrainingDivergedException"><paramref name="loss"/> is NaN or infinite.</exception>
    public static void ThrowIfNonFinite(float loss, string pass)
    {
        if (!float.IsFinite(loss))
            throw new TrainingDivergedException($"The loss of {pass} is {(float.IsNaN(loss) ? "NaN" : "infinite")}: the model's outputs are NaN, or its outputs or the targets overflow the loss, on these samples.");
    }

    /// <summary>Whether every gradient of <paramref name="parameters"/> is finite (a parameter without one counts as finite).</summary>
    public static bool AllFinite(IEnumerable<Parameter> parameters)
    {
        using var scope = torch.NewDisposeScope();
        var checks = parameters.Select(p => p.grad).OfType<Tensor>().Select(g => g.isfinite().all()).ToList();
        return checks.Count == 0 || torch.stack(checks).all().item<bool>();
    }

    static List<(Tensor buffer, Tensor copy)> SnapshotBuffers(nn.Module<Tensor, Tensor> model)
    {
        using var noGrad = torch.no_grad();
        return model.buffers().Select(b => (b, b.clone().DetachFromDisposeScope())).ToList();
    }

    static void RestoreBuffers(List<(Tensor buffer, Tensor copy)> buffers)
    {
        using var noGrad = torch.no_grad();
        foreach (var (buffer, copy) in buffers) buffer.copy_(copy);
    }
}
