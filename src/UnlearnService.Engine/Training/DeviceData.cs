using TorchSharp;
using UnlearnService.Engine.Data;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Training;

/// <summary>
/// A dataset's features and targets moved to the compute device once, so that every batch is an index_select on
/// one contiguous tensor. Disposing frees the device copies, not the dataset.
/// </summary>
public sealed class DeviceData : IDisposable
{
    /// <summary>Copies the dataset's tensors to <paramref name="device"/> (no copy when already there).</summary>
    public DeviceData(Dataset dataset, Device device)
    {
        Dataset = dataset;
        Device = device;
        Features = dataset.Features.to(device);
        Targets = dataset.Targets.to(device);
    }

    /// <summary>The source dataset.</summary>
    public Dataset Dataset { get; }

    /// <summary>The device holding the copies.</summary>
    public Device Device { get; }

    /// <summary>Features on the device.</summary>
    public Tensor Features { get; }

    /// <summary>Targets on the device.</summary>
    public Tensor Targets { get; }

    /// <summary>Classification or regression.</summary>
    public TaskKind Task => Dataset.Task;

    /// <inheritdoc />
    public void Dispose()
    {
        if (!ReferenceEquals(Features, Dataset.Features)) Features.Dispose();
        if (!ReferenceEquals(Targets, Dataset.Targets)) Targets.Dispose();
    }
}

/// <summary>Index batches over a subset of samples.</summary>
internal static class Batches
{
    /// <summary>
    /// Splits <paramref name="indices"/> into batches of at most <paramref name="batchSize"/>, shuffled by
    /// <paramref name="generator"/> when given. Each yielded tensor is owned by the caller. With
    /// <paramref name="noLoneLast"/>, a last batch of one sample joins the batch before it (which then holds
    /// <paramref name="batchSize"/> + 1): BatchNorm in train mode cannot normalise a lone sample whose feature maps
    /// have shrunk to 1×1 (ResNet-18 on inputs of 8×8 or less), and dropping it, as PyTorch's drop_last would, skips
    /// a sample every epoch.
    /// </summary>
    public static IEnumerable<Tensor> Over(IReadOnlyList<long> indices, int batchSize, Device device, Generator? generator,
        bool noLoneLast = false)
    {
        if (indices.Count == 0) yield break;
        using var all = torch.tensor(indices.ToArray(), ScalarType.Int64);
        using var permutation = generator is null ? null : torch.randperm(indices.Count, generator: generator);
        using var order = permutation is null ? all.alias() : all.index_select(0, permutation);
        using var onDevice = order.to(device);
        for (long start = 0, length; start < indices.Count; start += length)
        {
            length = Math.Min(batchSize, indices.Count - start);
            if (noLoneLast && batchSize > 1 && indices.Count - start - length == 1) length++;
            // The view is held until its copy exists: a temporary's finalizer could free it mid-call (README: Scalars).
            using var slice = onDevice.narrow(0, start, length);
            yield return slice.clone();
        }
    }
}
