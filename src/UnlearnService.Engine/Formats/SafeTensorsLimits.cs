namespace UnlearnService.Engine.Formats;

/// <summary>Bounds on what a safetensors reader accepts, so hostile files cannot exhaust memory.</summary>
public sealed record SafeTensorsLimits
{
    /// <summary>The limits used when a caller passes none.</summary>
    public static SafeTensorsLimits Default { get; } = new();

    /// <summary>Largest JSON header accepted, in bytes (default 100 MB, as the reference implementation).</summary>
    public long MaxHeaderBytes { get; init; } = 100_000_000;

    /// <summary>
    /// Largest byte buffer (all tensors together) accepted, in bytes (default 16 GiB). It matters most for streams
    /// that cannot seek: there the tensors are allocated before the reader can know that the bytes exist.
    /// </summary>
    public long MaxDataBytes { get; init; } = 16L << 30;

    /// <summary>Most dimensions a tensor may have (default 32).</summary>
    public int MaxRank { get; init; } = 32;

    /// <summary>
    /// Most tensors in one file (default 100,000; models have hundreds to a few thousand). Each costs a libtorch
    /// tensor even when empty, so a header of a million tiny entries would otherwise take seconds and hundreds of MB.
    /// </summary>
    public int MaxTensors { get; init; } = 100_000;

    internal void Validate()
    {
        if (MaxHeaderBytes < 2 || MaxHeaderBytes > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(MaxHeaderBytes), MaxHeaderBytes, $"Must be between 2 and {Array.MaxLength}.");
        if (MaxDataBytes < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxDataBytes), MaxDataBytes, "Must not be negative.");
        if (MaxRank < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxRank), MaxRank, "Must not be negative.");
        if (MaxTensors < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxTensors), MaxTensors, "Must not be negative.");
    }
}
