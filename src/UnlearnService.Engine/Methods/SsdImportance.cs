using System.Globalization;
using UnlearnService.Engine.Formats;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Methods;

/// <summary>
/// SSD importances of every trainable parameter over a set of samples (CPU tensors keyed by parameter name), with
/// what sets their scale: the batch size (a batch-mean gradient squared shrinks as batches grow) and the kind
/// (Fisher, or LF-SSD's label-free |∇‖f‖²|). I_D and I_Df are compared entry by entry, so they must agree on both:
/// a cached I_D computed otherwise is not used. Owns its tensors.
/// </summary>
public sealed class SsdImportance : IDisposable
{
    const string BatchSizeKey = "ssd_batch_size";
    const string KindKey = "ssd_importance";

    /// <summary>Takes ownership of <paramref name="tensors"/>.</summary>
    public SsdImportance(IReadOnlyDictionary<string, Tensor> tensors, int batchSize, bool labelFree)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Must be positive.");
        Tensors = tensors;
        BatchSize = batchSize;
        LabelFree = labelFree;
    }

    /// <summary>Importance per trainable parameter, keyed by parameter name.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>Samples per batch of the pass that computed them.</summary>
    public int BatchSize { get; }

    /// <summary>LF-SSD's label-free importance rather than the Fisher one.</summary>
    public bool LabelFree { get; }

    /// <summary>Whether a run with this batch size and kind can compare its importances with these.</summary>
    public bool ComputedLike(int batchSize, bool labelFree) => BatchSize == batchSize && LabelFree == labelFree;

    /// <summary>Writes the tensors as safetensors, with the batch size and kind in the header's metadata.</summary>
    public void Write(Stream stream) =>
        SafeTensors.WriteStateDict(stream, Tensors, new Dictionary<string, string>
        {
            [BatchSizeKey] = BatchSize.ToString(CultureInfo.InvariantCulture),
            [KindKey] = LabelFree ? "label-free" : "fisher",
        });

    /// <summary>Reads what <see cref="Write"/> wrote.</summary>
    /// <exception cref="SafeTensorsFormatException">The data breaks the format, or its metadata does not say how the importances were computed.</exception>
    public static SsdImportance Read(Stream stream, SafeTensorsLimits? limits = null)
    {
        var file = SafeTensors.Read(stream, limits);
        try
        {
            if (!file.Metadata.TryGetValue(BatchSizeKey, out var batchText)
                || !int.TryParse(batchText, NumberStyles.None, CultureInfo.InvariantCulture, out var batchSize) || batchSize < 1)
                throw new SafeTensorsFormatException($"The importances do not say the batch size they were computed with (metadata '{BatchSizeKey}').");
            var labelFree = file.Metadata.GetValueOrDefault(KindKey) switch
            {
                "fisher" => false,
                "label-free" => true,
                _ => throw new SafeTensorsFormatException($"The importances do not say their kind (metadata '{KindKey}': 'fisher' or 'label-free')."),
            };
            return new SsdImportance(file.Tensors.ToDictionary(t => t.Name, t => t.Tensor, StringComparer.Ordinal), batchSize, labelFree);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        foreach (var tensor in Tensors.Values) tensor.Dispose();
    }
}
