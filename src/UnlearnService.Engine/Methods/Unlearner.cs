using System.Diagnostics;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Methods;

/// <summary>Everything an unlearning run works on. The model is changed in place.</summary>
public sealed class UnlearningJob
{
    /// <summary>The model to unlearn from, already on <see cref="Data"/>'s device.</summary>
    public required nn.Module<Tensor, Tensor> Model { get; init; }

    /// <summary>The zoo spec of the model (Retrain re-initialises from it).</summary>
    public required ModelSpec Spec { get; init; }

    /// <summary>The dataset on the compute device.</summary>
    public required DeviceData Data { get; init; }

    /// <summary>Indices of the forget set Df (training samples).</summary>
    public required IReadOnlyList<long> Forget { get; init; }

    /// <summary>Indices of the retain set Dr = D \ Df (training samples).</summary>
    public required IReadOnlyList<long> Retain { get; init; }

    /// <summary>The recipe the model was trained with; Retrain's defaults.</summary>
    public TrainingOptions? Recipe { get; init; }

    /// <summary>The recipe's training augmentation, used by every update and by SalUn's saliency (ALGORITHMS.md).</summary>
    internal Augmentation? Augmentation => Recipe?.Augmentation;

    /// <summary>
    /// SSD's importance over the whole training set D for this model version, when cached; computed (and
    /// returned in the outcome for caching) otherwise, and also when it was computed with another batch size or
    /// kind than the run's. The caller keeps ownership.
    /// </summary>
    public SsdImportance? TrainingSetImportance { get; init; }
}

/// <summary>What a run did.</summary>
/// <param name="Method">The method.</param>
/// <param name="Settings">The resolved hyperparameters actually used.</param>
/// <param name="Seconds">RTE: wall-clock time of the unlearning step alone (no evaluation).</param>
/// <param name="Details">Method-specific facts, e.g. salient_entries, dampened_entries, importance_cached; recomputed_steps
/// when steps were recomputed after faulty gradients (engine README).</param>
/// <param name="ComputedTrainingSetImportance">SSD: I_D when it was computed by this run (CPU tensors; the caller owns and disposes it).</param>
public sealed record UnlearningOutcome(
    UnlearningMethod Method,
    UnlearningSettings Settings,
    double Seconds,
    IReadOnlyDictionary<string, double> Details,
    SsdImportance? ComputedTrainingSetImportance);

/// <summary>Runs one unlearning method on a job, exactly as ALGORITHMS.md specifies.</summary>
public static class Unlearner
{
    /// <summary>
    /// Unlearns <paramref name="job"/>'s forget set from its model, in place. Honours
    /// <paramref name="cancellationToken"/> between steps (the model is then partially updated: callers keep the
    /// original weights).
    /// </summary>
    /// <exception cref="TrainingDivergedException">The loss or the weights became NaN or infinite (e.g. too high a learning rate); the model is then unusable and callers restore it.</exception>
    public static UnlearningOutcome Run(UnlearningMethod method, UnlearningSettings settings, UnlearningJob job,
        IProgress<EngineProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (job.Forget.Count == 0) throw new ArgumentException("The forget set is empty.", nameof(job));
        job.Recipe?.Validate();
        var resolved = settings.Resolve(method, job.Recipe);
        var details = new Dictionary<string, double>();
        SsdImportance? computedImportance = null;
        var recomputedBefore = FiniteGradients.RecomputedOnThisThread;
        var clock = Stopwatch.StartNew();
        switch (method)
        {
            case UnlearningMethod.SalUn:
            case UnlearningMethod.RandomLabel:
                RandomLabels(job, resolved, method == UnlearningMethod.SalUn, details, progress, cancellationToken);
                break;
            case UnlearningMethod.FineTune:
            case UnlearningMethod.L1Sparse:
                FineTune(job, resolved, method == UnlearningMethod.L1Sparse, progress, cancellationToken);
                break;
            case UnlearningMethod.GradientAscent:
                GradientAscent(job, resolved, progress, cancellationToken);
                break;
            case UnlearningMethod.Ssd:
            case UnlearningMethod.SsdLabelFree:
                computedImportance = Dampening.Run(job, resolved, method == UnlearningMethod.SsdLabelFree, details, progress, cancellationToken);
                break;
            case UnlearningMethod.Retrain:
                Retrain(job, resolved, progress, cancellationToken);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown method.");
        }
        clock.Stop();
        if (ModelState.FirstNonFinite(job.Model) is { } broken)
        {
            computedImportance?.Dispose();
            throw new TrainingDivergedException($"{method.ShortName()} left NaN or infinite values in '{broken}': the run diverged.");
        }
        // A step recomputed after a kernel fault changes nothing in the result, but the evidence should say so.
        if (FiniteGradients.RecomputedOnThisThread - recomputedBefore is > 0 and var recomputed)
            details["recomputed_steps"] = recomputed;
        return new UnlearningOutcome(method, resolved, clock.Elapsed.TotalSeconds, details, computedImportance);
    }

    static Generator NewGenerator(long seed) => new((ulong)seed, torch.CPU);

    static Sgd NewSgd(UnlearningJob job, UnlearningSettings s, IReadOnlyList<Tensor?>? masks = null) =>
        new(job.Model.parameters(), s.LearningRate!.Value, s.Momentum!.Value, s.WeightDecay!.Value, masks);

    /// <summary>SalUn (with the saliency mask) and RL (without): random labels on Df, true labels on Dr, in the settings' pass order.</summary>
    static void RandomLabels(UnlearningJob job, UnlearningSettings s, bool masked, Dictionary<string, double> details,
        IProgress<EngineProgress>? progress, CancellationToken cancellationToken)
    {
        var epochs = s.Epochs!.Value;
        var batch = s.BatchSize!.Value;
        var saliencyWork = masked ? job.Forget.Count : 0;
        var tracker = new ProgressTracker(progress, saliencyWork + (double)epochs * (job.Forget.Count + job.Retain.Count));
        using var generator = NewGenerator(s.Seed);

        Tensor[]? masks = null;
        if (masked)
        {
            masks = Saliency.Mask(job.Model, job.Data, job.Forget, s.MaskRatio!.Value, Saliency.BatchSize, generator, job.Augmentation,
                n => tracker.Advance("saliency", n), cancellationToken);
            using (torch.NewDisposeScope())
                details["salient_entries"] = masks.Sum(m => m.sum().item<float>());
            details["total_entries"] = masks.Sum(m => (double)m.numel());
        }
        try
        {
            using var sgd = NewSgd(job, s, masks);
            var everything = job.Forget.Concat(job.Retain).ToList();
            var relabel = RandomTargets.For(job.Data, everything, generator);
            job.Model.train();
            using var forgotten = s.PassOrder == PassOrder.Shuffled ? ForgetFlags(job) : null;
            for (var epoch = 0; epoch < epochs; epoch++)
            {
                var phase = $"epoch {epoch + 1}/{epochs}";
                if (forgotten is not null)
                {
                    Loop.Pass(job.Model, job.Data, everything, batch, generator, job.Augmentation, sgd,
                        (output, targets, indices) =>
                        {
                            // Random labels where the sample is in Df, true ones elsewhere. They are drawn for the whole
                            // batch, so every step draws the same amount whatever share of it is Df.
                            var isForgotten = forgotten.index_select(0, indices).reshape([indices.shape[0], .. Enumerable.Repeat(1L, (int)targets.dim() - 1)]);
                            return Losses.Supervised(output, torch.where(isForgotten, relabel(targets), targets), job.Data.Task);
                        },
                        n => tracker.Advance(phase, n), cancellationToken);
                }
                else
                {
                    Loop.Pass(job.Model, job.Data, job.Forget, batch, generator, job.Augmentation, sgd,
                        (output, targets) => Losses.Supervised(output, relabel(targets), job.Data.Task),
                        n => tracker.Advance($"{phase}: forget set", n), cancellationToken);
                    Loop.Pass(job.Model, job.Data, job.Retain, batch, generator, job.Augmentation, sgd,
                        (output, targets) => Losses.Supervised(output, targets, job.Data.Task),
                        n => tracker.Advance($"{phase}: retain set", n), cancellationToken);
                }
            }
        }
        finally
        {
            if (masks is not null) foreach (var m in masks) m.Dispose();
        }
    }

    /// <summary>A flag per sample of the dataset, on its device: true for the forget set.</summary>
    static Tensor ForgetFlags(UnlearningJob job)
    {
        var flags = torch.zeros(job.Data.Targets.shape[0], ScalarType.Bool, job.Data.Device);
        using var index = torch.tensor(job.Forget.ToArray(), ScalarType.Int64, job.Data.Device);
        using var yes = true.ToScalar(); // held for the call (engine README: Scalars)
        flags.index_fill_(0, index, yes);
        return flags;
    }

    static void FineTune(UnlearningJob job, UnlearningSettings s, bool sparse, IProgress<EngineProgress>? progress, CancellationToken cancellationToken)
    {
        var epochs = s.Epochs!.Value;
        var tracker = new ProgressTracker(progress, (double)epochs * job.Retain.Count);
        using var generator = NewGenerator(s.Seed);
        using var sgd = NewSgd(job, s);
        var parameters = job.Model.parameters().Where(p => p.requires_grad).ToArray();
        job.Model.train();
        for (var epoch = 0; epoch < epochs; epoch++)
        {
            // ℓ1-sparse: α_e = α·(1 − e/E), decaying to zero over the run.
            var alpha = sparse ? s.Alpha!.Value * (1 - (double)epoch / epochs) : 0;
            using var alphaScalar = alpha.ToScalar(); // held for the pass (engine README: Scalars)
            Loop.Pass(job.Model, job.Data, job.Retain, s.BatchSize!.Value, generator, job.Augmentation, sgd,
                (output, targets) =>
                {
                    var loss = Losses.Supervised(output, targets, job.Data.Task);
                    if (alpha == 0) return loss;
                    var l1 = parameters.Select(p => p.abs().sum()).Aggregate((a, b) => a.add(b, HeldScalars.One));
                    return loss.add(l1, alphaScalar);
                },
                n => tracker.Advance($"epoch {epoch + 1}/{epochs}", n), cancellationToken);
        }
    }

    static void GradientAscent(UnlearningJob job, UnlearningSettings s, IProgress<EngineProgress>? progress, CancellationToken cancellationToken)
    {
        var epochs = s.Epochs!.Value;
        var tracker = new ProgressTracker(progress, (double)epochs * job.Forget.Count);
        using var generator = NewGenerator(s.Seed);
        using var sgd = NewSgd(job, s);
        job.Model.train();
        for (var epoch = 0; epoch < epochs; epoch++)
        {
            Loop.Pass(job.Model, job.Data, job.Forget, s.BatchSize!.Value, generator, job.Augmentation, sgd,
                (output, targets) => -Losses.Supervised(output, targets, job.Data.Task),
                n => tracker.Advance($"epoch {epoch + 1}/{epochs}", n), cancellationToken);
        }
    }

    static void Retrain(UnlearningJob job, UnlearningSettings s, IProgress<EngineProgress>? progress, CancellationToken cancellationToken)
    {
        if (job.Spec.Architecture == Architecture.TorchScript)
            throw new ArgumentException("Retrain needs an architecture to re-initialise; a TorchScript archive has none. Use another method.");
        using (var fresh = ModelZoo.Create(job.Spec, s.Seed))
            ModelState.Restore(job.Model, fresh.state_dict());
        var recipe = (job.Recipe ?? new TrainingOptions()) with
        {
            Epochs = s.Epochs!.Value,
            LearningRate = s.LearningRate!.Value,
            BatchSize = s.BatchSize!.Value,
            Momentum = s.Momentum!.Value,
            WeightDecay = s.WeightDecay!.Value,
            Seed = s.Seed,
        };
        Trainer.Train(job.Model, job.Data, job.Retain, recipe, progress, cancellationToken);
    }
}

/// <summary>Random targets for the forget set: uniform labels, or Gaussian targets for regression.</summary>
internal static class RandomTargets
{
    /// <summary>
    /// A function from true targets to random ones, drawn afresh on every call from <paramref name="generator"/>.
    /// Classification: uniform in [0, K). Regression: N(mean, std) of the training targets, per dimension.
    /// </summary>
    public static Func<Tensor, Tensor> For(DeviceData data, IReadOnlyList<long> training, Generator generator)
    {
        if (data.Task == TaskKind.Classification)
        {
            var classes = data.Dataset.ClassCount;
            return targets => torch.randint(0, classes, targets.shape, dtype: ScalarType.Int64, generator: generator).to(targets.device);
        }
        float[] mean, std;
        using (var scope = torch.NewDisposeScope())
        {
            var index = torch.tensor(training.ToArray(), ScalarType.Int64);
            var trainingTargets = data.Dataset.Targets.index_select(0, index).reshape(training.Count, -1);
            mean = trainingTargets.mean([0]).data<float>().ToArray();
            std = trainingTargets.std(0).data<float>().ToArray();
        }
        return targets =>
        {
            // Created inside the caller's per-step dispose scope, so nothing outlives the step.
            var noise = torch.randn([targets.shape[0], mean.Length], generator: generator);
            return (noise * torch.tensor(std)).add(torch.tensor(mean), HeldScalars.One).reshape(targets.shape).to(targets.device);
        };
    }
}
