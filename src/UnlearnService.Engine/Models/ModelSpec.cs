using System.Text.Json.Serialization;
using UnlearnService.Engine.Data;

namespace UnlearnService.Engine.Models;

/// <summary>The built-in architectures.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Architecture>))]
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

    /// <summary>Throws <see cref="ArgumentException"/> naming the first impossible value.</summary>
    public void Validate()
    {
        if (InputShape.Length == 0 || InputShape.Any(d => d <= 0))
            throw new ArgumentException($"Input shape [{string.Join(", ", InputShape)}] must have positive dimensions.");
        if (Outputs < 1 || (Task == TaskKind.Classification && Outputs < 2))
            throw new ArgumentException($"Outputs {Outputs} is too small for {Task}.");
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
    }
}
