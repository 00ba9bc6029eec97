using System.Diagnostics;
using UnlearnService.Engine.Data;

namespace UnlearnService.Cli;

/// <summary>
/// Where a command's dataset comes from, in one option:
/// <c>fashion-mnist[:DIR]</c>, <c>idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]</c>, <c>csv:FILE</c> or
/// <c>safetensors:FILE</c>; then an optional seeded subset, validation split and synthetic subjects.
/// </summary>
internal sealed record DataSource(string Spec, string? Target, bool Regression, int? Subset, int Validation, int? SubjectSize, long Seed)
{
    public const string Help =
        "fashion-mnist[:DIR] (Debian's dataset-fashion-mnist when DIR is omitted), idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS], csv:FILE or safetensors:FILE";

    /// <summary>The kind of source and what follows its colon.</summary>
    (string Kind, string? Argument) Parts => Spec.IndexOf(':', StringComparison.Ordinal) is var colon and >= 0
        ? (Spec[..colon], Spec[(colon + 1)..])
        : (Spec, null);

    /// <summary>The files named on the command line that the data is read from, so that no output overwrites one.</summary>
    public IReadOnlyList<string> Files => Parts switch
    {
        ("idx", { } files) => files.Split(','),
        ("csv" or "safetensors", { Length: > 0 } file) => [file],
        _ => [],
    };

    public Dataset Load()
    {
        var (kind, argument) = Parts;
        using var raw = kind switch
        {
            "fashion-mnist" => LoadIdxFolder(argument ?? FindDebianFashionMnist()),
            "idx" => LoadIdx((argument ?? throw new ArgumentException("idx: needs file names.")).Split(',')),
            "csv" => Read(argument, s => CsvDatasetImporter.Read(s, new CsvImportOptions
            {
                TargetColumn = Target ?? "label",
                Task = Regression ? TaskKind.Regression : TaskKind.Classification,
            })),
            "safetensors" => Read(argument, s => SafeTensorsDatasetImporter.Read(s)),
            _ => throw new ArgumentException($"Unknown data source '{kind}'; use {Help}."),
        };
        using var subset = Subset is not null || Validation > 0 ? DatasetPreparation.Subsample(raw, Subset, Validation, Seed) : null;
        var shaped = subset ?? raw;
        return SubjectSize is { } size ? DatasetPreparation.AssignSubjects(shaped, size) : Copy(shaped);
    }

    static Dataset Copy(Dataset d) => d.Select(Enumerable.Range(0, d.Count).Select(i => (long)i).ToArray());

    static Dataset Read(string? path, Func<Stream, Dataset> read)
    {
        if (string.IsNullOrEmpty(path)) throw new ArgumentException("The data source needs a file name.");
        using var stream = File.OpenRead(path);
        return read(stream);
    }

    static Dataset LoadIdxFolder(string folder) => LoadIdx(
    [
        Path.Combine(folder, "train-images-idx3-ubyte.gz"), Path.Combine(folder, "train-labels-idx1-ubyte.gz"),
        Path.Combine(folder, "t10k-images-idx3-ubyte.gz"), Path.Combine(folder, "t10k-labels-idx1-ubyte.gz"),
    ]);

    static Dataset LoadIdx(string[] files)
    {
        if (files.Length is not (2 or 4)) throw new ArgumentException("idx: give 2 files (train) or 4 (train and test).");
        var streams = files.Select(File.OpenRead).ToArray();
        try
        {
            return files.Length == 2
                ? IdxDatasetImporter.Read(streams[0], streams[1], Split.Train, "train")
                : IdxDatasetImporter.ReadTrainTest(streams[0], streams[1], streams[2], streams[3]);
        }
        finally
        {
            foreach (var s in streams) s.Dispose();
        }
    }

    /// <summary>Asks dpkg where Debian's dataset-fashion-mnist package put its files.</summary>
    static string FindDebianFashionMnist()
    {
        try
        {
            using var dpkg = Process.Start(new ProcessStartInfo("dpkg", ["-L", "dataset-fashion-mnist"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var files = dpkg.StandardOutput.ReadToEnd().Split('\n');
            dpkg.WaitForExit();
            var images = files.FirstOrDefault(f => f.EndsWith("/train-images-idx3-ubyte.gz", StringComparison.Ordinal));
            if (dpkg.ExitCode == 0 && images is not null) return Path.GetDirectoryName(images)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No dpkg on this system: fall through to the message below.
        }
        throw new ArgumentException("Fashion-MNIST not found: install Debian's dataset-fashion-mnist package or give fashion-mnist:DIR.");
    }
}
