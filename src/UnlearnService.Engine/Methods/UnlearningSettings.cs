using System.Text.Json.Serialization;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Training;

namespace UnlearnService.Engine.Methods;

/// <summary>The unlearning methods. See ALGORITHMS.md for each one's exact definition.</summary>
[JsonConverter(typeof(EnumNameConverter<UnlearningMethod>))]
public enum UnlearningMethod
{
    /// <summary>Re-initialise and train on the retain set with the original recipe ("exact unlearning").</summary>
    Retrain,

    /// <summary>Fine-tune on the retain set (CE).</summary>
    FineTune,

    /// <summary>Gradient ascent on the forget set (−CE with true labels).</summary>
    GradientAscent,

    /// <summary>Random labels: SalUn's update without the mask.</summary>
    RandomLabel,

    /// <summary>Fine-tune with a decaying ℓ1 penalty on the weights.</summary>
    L1Sparse,

    /// <summary>Saliency-masked random-label unlearning.</summary>
    SalUn,

    /// <summary>Selective synaptic dampening with Fisher importances.</summary>
    Ssd,

    /// <summary>Label-free SSD: importance from the output norm, accumulated as |grad|.</summary>
    SsdLabelFree,
}

/// <summary>Names accepted on the command line and in the API.</summary>
public static class UnlearningMethodNames
{
    static readonly Dictionary<string, UnlearningMethod> ByName = new(StringComparer.OrdinalIgnoreCase)
    {
        ["retrain"] = UnlearningMethod.Retrain,
        ["ft"] = UnlearningMethod.FineTune,
        ["finetune"] = UnlearningMethod.FineTune,
        ["ga"] = UnlearningMethod.GradientAscent,
        ["rl"] = UnlearningMethod.RandomLabel,
        ["l1"] = UnlearningMethod.L1Sparse,
        ["l1-sparse"] = UnlearningMethod.L1Sparse,
        ["salun"] = UnlearningMethod.SalUn,
        ["ssd"] = UnlearningMethod.Ssd,
        ["lf-ssd"] = UnlearningMethod.SsdLabelFree,
    };

    /// <summary>The short name: retrain, ft, ga, rl, l1, salun, ssd, lf-ssd.</summary>
    public static string ShortName(this UnlearningMethod method) => method switch
    {
        UnlearningMethod.Retrain => "retrain",
        UnlearningMethod.FineTune => "ft",
        UnlearningMethod.GradientAscent => "ga",
        UnlearningMethod.RandomLabel => "rl",
        UnlearningMethod.L1Sparse => "l1",
        UnlearningMethod.SalUn => "salun",
        UnlearningMethod.Ssd => "ssd",
        UnlearningMethod.SsdLabelFree => "lf-ssd",
        _ => method.ToString(),
    };

    /// <summary>Parses a short or long name; false for anything else.</summary>
    public static bool TryParse(string? name, out UnlearningMethod method)
    {
        name = name?.Trim();
        return (name is not null && ByName.TryGetValue(name, out method)) || EnumNames.TryParse(name, out method);
    }
}

/// <summary>How SalUn and RL visit the forget and retain sets in an epoch.</summary>
[JsonConverter(typeof(EnumNameConverter<PassOrder>))]
public enum PassOrder
{
    /// <summary>ALGORITHMS.md: a pass over Df with random labels, then a pass over Dr with true labels.</summary>
    Sequential,

    /// <summary>
    /// One shuffled pass over Df ∪ Dr, Df's samples with random labels, so every batch mixes both (the SalUn
    /// reference's loop for CIFAR-100 and TinyImageNet).
    /// </summary>
    Shuffled,
}

/// <summary>
/// Hyperparameters of an unlearning run. Every field is optional: <see cref="Resolve"/> fills the method's
/// defaults (ALGORITHMS.md) and clears fields the method does not use; the resolved record is stored with the run.
/// </summary>
public sealed record UnlearningSettings
{
    /// <summary>Passes over the data (gradient-based methods).</summary>
    public int? Epochs { get; init; }

    /// <summary>SGD learning rate (gradient-based methods).</summary>
    public double? LearningRate { get; init; }

    /// <summary>Samples per step (SSD: per importance batch).</summary>
    public int? BatchSize { get; init; }

    /// <summary>SGD momentum.</summary>
    public double? Momentum { get; init; }

    /// <summary>SGD weight decay.</summary>
    public double? WeightDecay { get; init; }

    /// <summary>SalUn: fraction r of all parameter entries that are salient (updated).</summary>
    public double? MaskRatio { get; init; }

    /// <summary>SalUn and RL: how an epoch visits Df and Dr (default <see cref="Methods.PassOrder.Sequential"/>).</summary>
    public PassOrder? PassOrder { get; init; }

    /// <summary>SSD: selection threshold α (I_Df &gt; α·I_D). ℓ1-sparse: the initial penalty α.</summary>
    public double? Alpha { get; init; }

    /// <summary>SSD: dampening constant λ.</summary>
    public double? Lambda { get; init; }

    /// <summary>Seed of every random draw of the run (shuffles, random labels, re-initialisation).</summary>
    public long Seed { get; init; }

    /// <summary>
    /// The settings <paramref name="method"/> will use: given values kept, missing ones defaulted, unused ones
    /// cleared. Retrain defaults to the original training recipe when one is given.
    /// </summary>
    public UnlearningSettings Resolve(UnlearningMethod method, TrainingOptions? recipe = null)
    {
        var sgd = new UnlearningSettings { Seed = Seed, Momentum = Momentum ?? 0.9, WeightDecay = WeightDecay ?? 5e-4 };
        var resolved = method switch
        {
            UnlearningMethod.SalUn => sgd with { Epochs = Epochs ?? RandomLabelEpochs(recipe), LearningRate = LearningRate ?? 0.013, BatchSize = BatchSize ?? 256, MaskRatio = MaskRatio ?? 0.5, PassOrder = PassOrder ?? Methods.PassOrder.Sequential },
            UnlearningMethod.RandomLabel => sgd with { Epochs = Epochs ?? RandomLabelEpochs(recipe), LearningRate = LearningRate ?? 0.013, BatchSize = BatchSize ?? 256, PassOrder = PassOrder ?? Methods.PassOrder.Sequential },
            UnlearningMethod.FineTune => sgd with { Epochs = Epochs ?? 10, LearningRate = LearningRate ?? 0.01, BatchSize = BatchSize ?? 256 },
            UnlearningMethod.GradientAscent => sgd with { Epochs = Epochs ?? 5, LearningRate = LearningRate ?? 1e-4, BatchSize = BatchSize ?? 256 },
            // Unlearn-Sparse's ℓ1 default; the penalty decays linearly to zero over the epochs.
            UnlearningMethod.L1Sparse => sgd with { Epochs = Epochs ?? 10, LearningRate = LearningRate ?? 0.01, BatchSize = BatchSize ?? 256, Alpha = Alpha ?? 5e-4 },
            UnlearningMethod.Ssd or UnlearningMethod.SsdLabelFree => new UnlearningSettings { Seed = Seed, BatchSize = BatchSize ?? 64, Alpha = Alpha ?? 10, Lambda = Lambda ?? 1 },
            UnlearningMethod.Retrain => new UnlearningSettings
            {
                Seed = Seed,
                Epochs = Epochs ?? recipe?.Epochs ?? 20,
                LearningRate = LearningRate ?? recipe?.LearningRate ?? 0.05,
                BatchSize = BatchSize ?? recipe?.BatchSize ?? 128,
                Momentum = Momentum ?? recipe?.Momentum ?? 0.9,
                WeightDecay = WeightDecay ?? recipe?.WeightDecay ?? 5e-4,
            },
            _ => throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown method."),
        };
        resolved.Validate();
        return resolved;
    }

    /// <summary>
    /// SalUn's and RL's epochs: the reference's 10 (CIFAR-10, where retraining takes far more), but at most 15% of
    /// the epochs the model itself was trained with when its recipe is known. ALGORITHMS.md: on small data fewer
    /// epochs suffice. Each epoch passes over all of D, so 10 epochs against a 40-epoch recipe would cost over a
    /// quarter of retraining, which is what unlearning is meant to avoid.
    /// </summary>
    public static int RandomLabelEpochs(TrainingOptions? recipe) =>
        recipe is null ? 10 : Math.Clamp((int)Math.Round(0.15 * recipe.Epochs), 1, 10);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first impossible value.</summary>
    public void Validate()
    {
        // As many as a training recipe may have: Retrain defaults to the recipe's.
        if (Epochs is < 1 or > 10_000) throw new ArgumentException($"Epochs {Epochs} must be between 1 and 10000.");
        if (LearningRate is { } lr && (!(lr > 0) || lr > 10)) throw new ArgumentException($"Learning rate {lr} must be in (0, 10].");
        if (BatchSize is < 1 or > 65_536) throw new ArgumentException($"Batch size {BatchSize} must be between 1 and 65536.");
        if (Momentum is < 0 or >= 1) throw new ArgumentException($"Momentum {Momentum} must be in [0, 1).");
        if (WeightDecay is < 0 or > 1) throw new ArgumentException($"Weight decay {WeightDecay} must be in [0, 1].");
        if (MaskRatio is { } r && (!(r > 0) || r > 1)) throw new ArgumentException($"Mask ratio {r} must be in (0, 1].");
        if (Alpha is { } a && (!(a >= 0) || double.IsInfinity(a))) throw new ArgumentException($"Alpha {a} must be a finite number ≥ 0.");
        if (Lambda is { } l && (!(l > 0) || double.IsInfinity(l))) throw new ArgumentException($"Lambda {l} must be a finite number > 0.");
        if (PassOrder is { } order) EnumNames.ThrowIfUndefined(order, "Pass order");
    }
}
