using System.Security.Cryptography;
using System.Text;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Models;

namespace UnlearnService.Cli;

/// <summary>
/// Which samples a model was trained on, kept in the weights' metadata by `unlearn train` and carried by `forget`.
/// Forgetting measures Dr and Df as the model's own training data: data loaded with another subset, validation split or
/// data seed would put samples the model never saw in Dr, and every figure would be meaningless.
/// </summary>
internal static class TrainingData
{
    public const string MetadataKey = "training_samples_sha256";

    /// <summary>SHA-256 of the training split's sample ids, sorted, one per line.</summary>
    public static string Fingerprint(Dataset dataset)
    {
        var ids = dataset.IndicesOf(Split.Train).Select(i => dataset.SampleIds[(int)i]).Order(StringComparer.Ordinal);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', ids))));
    }

    /// <summary>The metadata to write with weights trained on <paramref name="dataset"/>.</summary>
    public static Dictionary<string, string> Metadata(Dataset dataset) => new() { [MetadataKey] = Fingerprint(dataset) };

    /// <summary>The fingerprint <paramref name="model"/> carries, to keep in weights unlearned from it (none: nothing is claimed).</summary>
    public static Dictionary<string, string> Carried(LoadedModel model) =>
        model.Metadata.TryGetValue(MetadataKey, out var fingerprint) ? new() { [MetadataKey] = fingerprint } : [];

    /// <summary>Refuses <paramref name="dataset"/> when the model's metadata names other training samples.</summary>
    public static void EnsureTrainedOn(LoadedModel model, Dataset dataset)
    {
        if (model.Metadata.TryGetValue(MetadataKey, out var expected) && expected != Fingerprint(dataset))
            throw new ArgumentException("The model was trained on other samples than this data's training split: load the data with the "
                + "--data, --subset, --validation and --data-seed it was trained with.");
    }
}
