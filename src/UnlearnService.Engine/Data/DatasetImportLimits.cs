namespace UnlearnService.Engine.Data;

/// <summary>Bounds on what the dataset importers accept, so that an upload cannot exhaust memory.</summary>
public sealed record DatasetImportLimits
{
    /// <summary>The limits used when a caller passes none.</summary>
    public static DatasetImportLimits Default { get; } = new();

    /// <summary>
    /// Most bytes read from each input stream, counted after gzip decompression so that small archives cannot
    /// expand without bound (default 2 GiB).
    /// </summary>
    public long MaxBytes { get; init; } = 2L << 30;

    /// <summary>Most samples in one file (default 10 million).</summary>
    public int MaxSamples { get; init; } = 10_000_000;

    /// <summary>Most columns in a CSV file (default 10,000).</summary>
    public int MaxColumns { get; init; } = 10_000;

    /// <summary>
    /// Most characters in one CSV field (default 65,536): numbers and ids are short, and a field is held whole in
    /// memory before it is judged, so one endless field must not grow without bound.
    /// </summary>
    public int MaxFieldCharacters { get; init; } = 1 << 16;

    /// <summary>Most classes a classification dataset may have (default 100,000): a label of 10⁹ would otherwise ask for a billion outputs.</summary>
    public int MaxClasses { get; init; } = 100_000;

    internal void Validate()
    {
        if (MaxBytes < 1) throw new ArgumentOutOfRangeException(nameof(MaxBytes), MaxBytes, "Must be positive.");
        if (MaxSamples < 1) throw new ArgumentOutOfRangeException(nameof(MaxSamples), MaxSamples, "Must be positive.");
        if (MaxColumns < 2) throw new ArgumentOutOfRangeException(nameof(MaxColumns), MaxColumns, "Must be at least 2 (a feature and a target).");
        if (MaxFieldCharacters < 1) throw new ArgumentOutOfRangeException(nameof(MaxFieldCharacters), MaxFieldCharacters, "Must be positive.");
        if (MaxClasses < 1) throw new ArgumentOutOfRangeException(nameof(MaxClasses), MaxClasses, "Must be positive.");
    }
}
