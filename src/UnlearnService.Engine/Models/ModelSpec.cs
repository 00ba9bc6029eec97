using System.Text.Json.Serialization;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Formats;

namespace UnlearnService.Engine.Models;

/// <summary>The built-in architectures.</summary>
[JsonConverter(typeof(EnumNameConverter<Architecture>))]
public enum Architecture
{
    /// <summary>Fully connected network: fc1 … fcN with ReLU between.</summary>
    Mlp,

    /// <summary>Two conv-BN-ReLU-maxpool stages and two linear layers.</summary>
    SmallCnn,

    /// <summary>ResNet-18 with the CIFAR stem (3×3 conv1, no max-pool), torchvision parameter names.</summary>
    ResNet18,

    /// <summary>A TorchScript archive brought by the user: loaded, unlearned and saved back as TorchScript (no Retrain).</summary>
    TorchScript,
}

/// <summary>
/// Everything needed to build a zoo model: the architecture, the shape of one input sample, the number of
/// outputs (classes for classification, target dimensions for regression) and the architecture's parameters.
/// </summary>
public sealed record ModelSpec
{
    /// <summary>Which zoo entry.</summary>
    public required Architecture Architecture { get; init; }

    /// <summary>Shape of one sample, e.g. [1, 28, 28] for Fashion-MNIST or [20] for tabular data.</summary>
    public required long[] InputShape { get; init; }

    /// <summary>Classes K (classification) or target dimensions (regression).</summary>
    public required int Outputs { get; init; }

    /// <summary>Classification or regression; decides the loss and the evaluation.</summary>
    public TaskKind Task { get; init; } = TaskKind.Classification;

    /// <summary>
    /// Width: hidden units per layer for the MLP (default 256), channels of the first conv for the small CNN
    /// (default 32), channels of the first stage for ResNet-18 (default 64, as torchvision).
    /// </summary>
    public int? Width { get; init; }

    /// <summary>Hidden layers of the MLP (default 2; 0 gives a linear model); ignored by the other architectures.</summary>
    public int? Depth { get; init; }

    /// <summary>Width with its per-architecture default.</summary>
    [JsonIgnore]
    public int ResolvedWidth => Width ?? Architecture switch
    {
        Architecture.Mlp => 256,
        Architecture.SmallCnn => 32,
        _ => 64,
    };

    /// <summary>MLP depth with its default.</summary>
    [JsonIgnore]
    public int ResolvedDepth => Depth ?? 2;

    /// <summary>Most trainable parameters a zoo model may have (1 GB of float32 weights; ResNet-18 at width 256 has 179 million).</summary>
    public const long MaxParameters = 250_000_000;

    /// <summary>
    /// Most values in one input sample (16.8 million, e.g. 3 × 2,048 × 2,048): ResNet-18's parameters do not grow with
    /// the image, but every forward pass does.
    /// </summary>
    public const long MaxInputElements = 1L << 24;

    /// <summary>Most outputs (classes or target dimensions).</summary>
    public const int MaxOutputs = 1_000_000;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the first impossible value. Specs come from uploads and file
    /// metadata, so a model too large to build is refused here, before any weight is allocated.
    /// </summary>
    public void Validate()
    {
        EnumNames.ThrowIfUndefined(Architecture, "Architecture");
        EnumNames.ThrowIfUndefined(Task, "Task");
        if (InputShape is null || InputShape.Length == 0 || InputShape.Any(d => d <= 0))
            throw new ArgumentException($"Input shape [{string.Join(", ", InputShape ?? [])}] must have positive dimensions.");
        if (InputElements > MaxInputElements)
            throw new ArgumentException($"Input shape [{string.Join(", ", InputShape)}] has more than {MaxInputElements} values per sample, the limit.");
        if (Outputs < 1 || (Task == TaskKind.Classification && Outputs < 2))
            throw new ArgumentException($"Outputs {Outputs} is too small for {Task}.");
        if (Outputs > MaxOutputs)
            throw new ArgumentException($"Outputs {Outputs} is over the limit of {MaxOutputs}.");
        if (Architecture == Architecture.TorchScript) return;
        if (ResolvedWidth is < 1 or > 4096)
            throw new ArgumentException($"Width {ResolvedWidth} must be between 1 and 4096.");
        if (ResolvedDepth is < 0 or > 16)
            throw new ArgumentException($"Depth {ResolvedDepth} must be between 0 and 16.");
        if (Architecture is Architecture.SmallCnn or Architecture.ResNet18)
        {
            if (InputShape.Length != 3)
                throw new ArgumentException($"{Architecture} needs an image input [channels, height, width], not [{string.Join(", ", InputShape)}].");
            if (Architecture == Architecture.SmallCnn && (InputShape[1] < 4 || InputShape[2] < 4))
                throw new ArgumentException("SmallCnn needs images of at least 4×4.");
        }
        var parameters = ParameterCount();
        if (parameters > MaxParameters)
            throw new ArgumentException($"{Architecture} at width {ResolvedWidth} on input [{string.Join(", ", InputShape)}] with {Outputs} outputs " +
                $"would have {parameters.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)} parameters, over the limit of {MaxParameters}.");
    }

    /// <summary>Values in one input sample, in floating point so that absurd shapes cannot overflow.</summary>
    double InputElements => InputShape.Aggregate(1.0, (a, d) => a * d);

    /// <summary>
    /// Trainable parameters of the zoo model this spec builds (weights, biases, BatchNorm γ and β), in floating point
    /// so that absurd shapes cannot overflow.
    /// </summary>
    internal double ParameterCount()
    {
        double w = ResolvedWidth, k = Outputs, channels = InputShape[0];
        switch (Architecture)
        {
            case Architecture.Mlp:
                return ResolvedDepth == 0
                    ? InputElements * k + k
                    : InputElements * w + w + (ResolvedDepth - 1) * (w * w + w) + w * k + k;
            case Architecture.SmallCnn:
                var flat = 2 * w * (InputShape[1] / 4) * (InputShape[2] / 4);
                return channels * w * 9 + 2 * w + w * 2 * w * 9 + 4 * w + flat * 128 + 128 + 128 * k + k;
            default:
                // ResNet-18, CIFAR stem: the 3×3 stem, 16 3×3 convolutions and 3 1×1 shortcuts come to 9·c·w + 2,724·w²,
                // BatchNorm to 150·w, the head to 8·w·k + k.
                return 9 * channels * w + 2724 * w * w + 150 * w + 8 * w * k + k;
        }
    }
}
