using TorchSharp;
using UnlearnService.Engine.Formats;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Data;

/// <summary>What a model predicts.</summary>
public enum TaskKind
{
    /// <summary>Integer class labels in [0, K), cross-entropy.</summary>
    Classification,

    /// <summary>Real-valued targets, mean squared error.</summary>
    Regression,
}

/// <summary>Which part of the data a sample belongs to.</summary>
public enum Split : byte
{
    /// <summary>Training data: D, of which the forget set Df is a subset.</summary>
    Train = 0,

    /// <summary>Held-out test data T: reported, never used to choose anything.</summary>
    Test = 1,

    /// <summary>
    /// Held-out non-members that are not the test set: tuning judges forgetting against them, so that no
    /// choice is made on T.
    /// </summary>
    Validation = 2,
}

/// <summary>
/// A dataset held as one contiguous feature tensor and one target tensor on the CPU (batches index them; there
/// are no per-sample objects), with per-sample ids, optional data-subject ids and splits.
/// </summary>
public sealed class Dataset : IDisposable
{
    /// <summary>Creates a dataset; takes ownership of the tensors.</summary>
    /// <param name="features">float32 [N, ...sample shape].</param>
    /// <param name="targets">int64 [N] for classification; float32 [N] or [N, k] for regression.</param>
    /// <param name="sampleIds">N unique ids.</param>
    /// <param name="subjectIds">N data-subject ids, null where a sample has none.</param>
    /// <param name="splits">N splits.</param>
    /// <param name="task">Classification or regression.</param>
    /// <param name="classCount">K for classification (0 for regression); at least max label + 1.</param>
    /// <param name="classNames">For classification, optionally the name of each class index (K names).</param>
    public Dataset(Tensor features, Tensor targets, IReadOnlyList<string> sampleIds, IReadOnlyList<string?> subjectIds,
        IReadOnlyList<Split> splits, TaskKind task, int classCount, IReadOnlyList<string>? classNames = null)
    {
        var n = features.shape[0];
        if (targets.shape[0] != n || sampleIds.Count != n || subjectIds.Count != n || splits.Count != n)
            throw new ArgumentException($"Features have {n} samples but targets {targets.shape[0]}, ids {sampleIds.Count}, subjects {subjectIds.Count}, splits {splits.Count}.");
        if (features.dtype != ScalarType.Float32)
            throw new ArgumentException($"Features must be float32, not {features.dtype}.", nameof(features));
        // A task or split no member names would pass every check below and then be treated as some default one.
        EnumNames.ThrowIfUndefined(task, "Task", nameof(task));
        foreach (var split in splits)
            EnumNames.ThrowIfUndefined(split, "Split", nameof(splits));
        // The host copy of the data: DeviceData moves it to a device; partitions read labels from here directly.
        if (features.device_type != DeviceType.CPU || targets.device_type != DeviceType.CPU)
            throw new ArgumentException("A dataset's tensors live on the CPU; DeviceData copies them to a device.");
        if (task == TaskKind.Classification && targets.dtype != ScalarType.Int64)
            throw new ArgumentException($"Classification targets must be int64, not {targets.dtype}.", nameof(targets));
        if (task == TaskKind.Regression && targets.dtype != ScalarType.Float32)
            throw new ArgumentException($"Regression targets must be float32, not {targets.dtype}.", nameof(targets));
        if (task == TaskKind.Classification)
        {
            if (classCount < 1)
                throw new ArgumentException($"A classification dataset needs at least one class, not {classCount}.", nameof(classCount));
            // The importers check labels as they read them; this catches any other caller, whose label out of [0, K)
            // would otherwise surface much later as a native error inside cross-entropy.
            if (n > 0)
            {
                using var low = targets.min();
                using var high = targets.max();
                if (low.item<long>() < 0 || high.item<long>() >= classCount)
                    throw new ArgumentException($"Class labels must lie in [0, {classCount}); they span {low.item<long>()}..{high.item<long>()}.", nameof(targets));
            }
        }
        else if (classCount != 0)
            throw new ArgumentException($"A regression dataset has no classes (class count {classCount}, not 0).", nameof(classCount));
        if (classNames is not null && (task != TaskKind.Classification || classNames.Count != classCount))
            throw new ArgumentException($"Class names need a classification task and one name per class ({classCount}), not {classNames.Count}.", nameof(classNames));
        Features = features;
        Targets = targets;
        SampleIds = sampleIds;
        SubjectIds = subjectIds;
        Splits = splits;
        Task = task;
        ClassCount = classCount;
        ClassNames = classNames;
    }

    /// <summary>float32 [N, ...sample shape] on the CPU.</summary>
    public Tensor Features { get; }

    /// <summary>int64 [N] (classification) or float32 [N] / [N, k] (regression) on the CPU.</summary>
    public Tensor Targets { get; }

    /// <summary>Per-sample ids, unique within the dataset.</summary>
    public IReadOnlyList<string> SampleIds { get; }

    /// <summary>Per-sample data-subject ids; null where unknown.</summary>
    public IReadOnlyList<string?> SubjectIds { get; }

    /// <summary>Per-sample split.</summary>
    public IReadOnlyList<Split> Splits { get; }

    /// <summary>Classification or regression.</summary>
    public TaskKind Task { get; }

    /// <summary>Number of classes K (0 for regression).</summary>
    public int ClassCount { get; }

    /// <summary>
    /// For classification data whose labels were names (e.g. CSV with "cat", "dog"), the name of each class
    /// index; null when the labels were class indices already.
    /// </summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>Number of samples N.</summary>
    public int Count => SampleIds.Count;

    /// <summary>Shape of one sample's features, e.g. [1, 28, 28].</summary>
    public long[] SampleShape => Features.shape[1..];

    /// <summary>Indices of the samples in a split, ascending.</summary>
    public long[] IndicesOf(Split split) =>
        Enumerable.Range(0, Count).Where(i => Splits[i] == split).Select(i => (long)i).ToArray();

    /// <summary>A new dataset with the given samples, in the given order (tensors are copied).</summary>
    public Dataset Select(IReadOnlyList<long> indices)
    {
        using var index = torch.tensor(indices.ToArray(), ScalarType.Int64);
        return new Dataset(
            Features.index_select(0, index),
            Targets.index_select(0, index),
            indices.Select(i => SampleIds[(int)i]).ToArray(),
            indices.Select(i => SubjectIds[(int)i]).ToArray(),
            indices.Select(i => Splits[(int)i]).ToArray(),
            Task,
            ClassCount,
            ClassNames);
    }

    /// <summary>
    /// One dataset holding the samples of all parts, in order (tensors are copied), e.g. a train file and a test
    /// file. The class count is the largest of the parts'.
    /// </summary>
    /// <exception cref="ArgumentException">The parts differ in task, sample shape, target shape or class names, or share a sample id.</exception>
    public static Dataset Concat(IReadOnlyList<Dataset> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0)
            throw new ArgumentException("There is nothing to concatenate.", nameof(parts));
        var first = parts[0];
        foreach (var part in parts)
        {
            if (part.Task != first.Task)
                throw new ArgumentException($"Cannot concatenate {first.Task} and {part.Task} data.", nameof(parts));
            if (!part.SampleShape.SequenceEqual(first.SampleShape) || !part.Targets.shape[1..].SequenceEqual(first.Targets.shape[1..]))
                throw new ArgumentException($"Samples of shape [{string.Join(", ", part.SampleShape)}] do not match [{string.Join(", ", first.SampleShape)}].", nameof(parts));
            if (!(part.ClassNames ?? []).SequenceEqual(first.ClassNames ?? []))
                throw new ArgumentException("The parts name their classes differently.", nameof(parts));
        }
        var ids = parts.SelectMany(p => p.SampleIds).ToArray();
        var duplicate = ids.GroupBy(id => id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"The sample id '{duplicate.Key}' appears in more than one place.", nameof(parts));
        return new Dataset(
            torch.cat(parts.Select(p => p.Features).ToArray(), 0),
            torch.cat(parts.Select(p => p.Targets).ToArray(), 0),
            ids,
            parts.SelectMany(p => p.SubjectIds).ToArray(),
            parts.SelectMany(p => p.Splits).ToArray(),
            first.Task,
            parts.Max(p => p.ClassCount),
            first.ClassNames);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Features.Dispose();
        Targets.Dispose();
    }
}
