using System.Diagnostics;
using System.Text.Json.Serialization;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Models;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Training;

/// <summary>How the learning rate changes over the epochs of a training run.</summary>
[JsonConverter(typeof(EnumNameConverter<LearningRateSchedule>))]
public enum LearningRateSchedule
{
    /// <summary>The same rate throughout.</summary>
    Constant,

    /// <summary>Cosine annealing to zero over the run, updated per epoch.</summary>
    Cosine,

    /// <summary>×0.1 at 50% and again at 75% of the epochs.</summary>
    Step,
}

/// <summary>The recipe of a training run (the original model's, and therefore Retrain's).</summary>
public sealed record TrainingOptions
{
    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; init; } = 20;

    /// <summary>Samples per step.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Initial learning rate.</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>Learning-rate schedule.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Cosine;

    /// <summary>Seed of initialisation and shuffling.</summary>
    public long Seed { get; init; }

    /// <summary>Augmentation of every training batch (image models only); null for none.</summary>
    public Augmentation? Augmentation { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first impossible value.</summary>
    public void Validate()
    {
        if (Epochs is < 1 or > 10_000) throw new ArgumentException($"Epochs {Epochs} must be between 1 and 10000.");
        if (BatchSize is < 1 or > 65_536) throw new ArgumentException($"Batch size {BatchSize} must be between 1 and 65536.");
        if (!(LearningRate > 0) || LearningRate > 10) throw new ArgumentException($"Learning rate {LearningRate} must be in (0, 10].");
        if (Momentum is < 0 or >= 1) throw new ArgumentException($"Momentum {Momentum} must be in [0, 1).");
        if (WeightDecay is < 0 or > 1) throw new ArgumentException($"Weight decay {WeightDecay} must be in [0, 1].");
        EnumNames.ThrowIfUndefined(Schedule, "Schedule");
        Augmentation?.Validate();
    }

    internal double RateAt(int epoch) => Schedule switch
    {
        LearningRateSchedule.Cosine => LearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / Epochs)),
        LearningRateSchedule.Step => LearningRate * (epoch >= 0.75 * Epochs ? 0.01 : epoch >= 0.5 * Epochs ? 0.1 : 1),
        _ => LearningRate,
    };
}

/// <summary>What a training run did.</summary>
/// <param name="EpochLosses">Mean training loss per epoch.</param>
/// <param name="Seconds">Wall-clock time of the training loop.</param>
/// <param name="SamplesPerSecond">Training throughput.</param>
/// <param name="RecomputedSteps">Steps recomputed because their gradients came out non-finite at a finite loss (see <see cref="FiniteGradients"/>).</param>
public sealed record TrainingReport(IReadOnlyList<double> EpochLosses, double Seconds, double SamplesPerSecond, long RecomputedSteps);

/// <summary>Supervised training with SGD, as used for original models and for Retrain.</summary>
public static class Trainer
{
    /// <summary>
    /// Trains <paramref name="model"/> (already on <paramref name="data"/>'s device) in place on the samples
    /// <paramref name="indices"/>. Deterministic for a given seed and device.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The loss, a weight or a BatchNorm statistic became NaN or infinite.</exception>
    public static TrainingReport Train(nn.Module<Tensor, Tensor> model, DeviceData data, IReadOnlyList<long> indices,
        TrainingOptions options, IProgress<EngineProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (indices.Count == 0) throw new ArgumentException("Cannot train on an empty set.", nameof(indices));
        using var generator = new Generator((ulong)options.Seed, torch.CPU);
        using var sgd = new Sgd(model.parameters(), options.LearningRate, options.Momentum, options.WeightDecay);
        var tracker = new ProgressTracker(progress, (double)options.Epochs * indices.Count);
        var losses = new List<double>();
        var recomputedBefore = FiniteGradients.RecomputedOnThisThread; // per thread: training is synchronous
        var clock = Stopwatch.StartNew();
        model.train();
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            sgd.LearningRate = options.RateAt(epoch);
            var phase = $"train epoch {epoch + 1}/{options.Epochs}";
            losses.Add(Loop.Pass(model, data, indices, options.BatchSize, generator, options.Augmentation, sgd,
                (output, targets) => Losses.Supervised(output, targets, data.Task),
                n => tracker.Advance(phase, n), cancellationToken));
        }
        clock.Stop();
        if (ModelState.FirstNonFinite(model) is { } broken)
            throw new TrainingDivergedException($"Training left NaN or infinite values in '{broken}': it diverged.");
        return new TrainingReport(losses, clock.Elapsed.TotalSeconds, (double)options.Epochs * indices.Count / clock.Elapsed.TotalSeconds,
            FiniteGradients.RecomputedOnThisThread - recomputedBefore);
    }
}

/// <summary>Losses shared by training and unlearning.</summary>
internal static class Losses
{
    /// <summary>Mean cross-entropy (classification) or mean squared error (regression).</summary>
    public static Tensor Supervised(Tensor output, Tensor targets, TaskKind task) =>
        task == TaskKind.Classification
            ? nn.functional.cross_entropy(output, targets)
            : nn.functional.mse_loss(output, targets.reshape(output.shape));
}

/// <summary>The one optimisation loop every method uses: a dispose scope per step, cancellation between steps.</summary>
internal static class Loop
{
    /// <summary>
    /// One pass over <paramref name="indices"/> in batches, shuffled by <paramref name="generator"/> and augmented
    /// from it when <paramref name="augmentation"/> is given: zero grad → loss → backward → step. Returns the mean
    /// loss over samples. <paramref name="loss"/> gets the model output and the batch targets.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite (the step is not taken).</exception>
    public static double Pass(nn.Module<Tensor, Tensor> model, DeviceData data, IReadOnlyList<long> indices, int batchSize,
        Generator generator, Augmentation? augmentation, Sgd sgd, Func<Tensor, Tensor, Tensor> loss, Action<int>? onBatch,
        CancellationToken cancellationToken) =>
        Pass(model, data, indices, batchSize, generator, augmentation, sgd, (output, targets, _) => loss(output, targets), onBatch, cancellationToken);

    /// <summary>As the other overload, but <paramref name="loss"/> also gets the batch's sample indices (on the device).</summary>
    public static double Pass(nn.Module<Tensor, Tensor> model, DeviceData data, IReadOnlyList<long> indices, int batchSize,
        Generator generator, Augmentation? augmentation, Sgd sgd, Func<Tensor, Tensor, Tensor, Tensor> loss, Action<int>? onBatch,
        CancellationToken cancellationToken)
    {
        double total = 0;
        foreach (var batch in Batches.Over(indices, batchSize, data.Device, generator, noLoneLast: true))
        {
            using var batchIndices = batch; // owned before anything can throw
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            var batchLoss = FiniteGradients.Backward(model, sgd.Parameters, generator, () =>
            {
                var x = data.Features.index_select(0, batch);
                if (augmentation is not null) x = augmentation.Apply(x, generator);
                return loss(model.forward(x), data.Targets.index_select(0, batch), batch);
            });
            // A non-finite loss poisons every weight on the step: stop before taking it.
            if (!float.IsFinite(batchLoss))
                throw new TrainingDivergedException($"The run diverged: the loss became {batchLoss} at learning rate {sgd.LearningRate:G3}; a lower learning rate may converge.");
            sgd.Step();
            var n = (int)batch.shape[0];
            total += batchLoss * n;
            onBatch?.Invoke(n);
        }
        return total / indices.Count;
    }
}
