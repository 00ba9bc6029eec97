using System.Diagnostics.CodeAnalysis;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Formats;

/// <summary>The contents of a safetensors file: its metadata and its tensors, which this object owns.</summary>
public sealed class SafeTensorsFile : IDisposable
{
    readonly Dictionary<string, Tensor> _byName;

    internal SafeTensorsFile(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<(string Name, Tensor Tensor)> tensors)
    {
        Metadata = metadata;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, t => t.Tensor, StringComparer.Ordinal);
    }

    /// <summary>The string-to-string <c>__metadata__</c> of the header; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// The tensors on the CPU, in the order of their bytes in the file (empty tensors that share an offset keep
    /// the header's order).
    /// </summary>
    public IReadOnlyList<(string Name, Tensor Tensor)> Tensors { get; }

    /// <summary>The tensor with the given name.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    public Tensor this[string name] =>
        _byName.TryGetValue(name, out var tensor) ? tensor : throw new KeyNotFoundException($"The file has no tensor '{name}'.");

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGetTensor(string name, [MaybeNullWhen(false)] out Tensor tensor) => _byName.TryGetValue(name, out tensor);

    /// <summary>Disposes every tensor.</summary>
    public void Dispose()
    {
        foreach (var (_, tensor) in Tensors)
            tensor.Dispose();
    }
}
