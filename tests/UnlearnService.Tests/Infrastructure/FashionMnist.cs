using System.Diagnostics;
using System.IO.Compression;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;

namespace UnlearnService.Tests.Infrastructure;

/// <summary>
/// Real data for end-to-end tests: a subset of Debian's dataset-fashion-mnist (the test script installs the
/// package), written as gzipped IDX files like the originals, and a small CNN trained on it by the engine.
/// </summary>
public static class FashionMnist
{
    static readonly Lazy<string> Folder = new(FindPackageFolder);
    static readonly Lock Gate = new();
    static readonly Dictionary<(int, int), string> Subsets = [];

    /// <summary>The four IDX files of the first <paramref name="train"/> training and <paramref name="test"/> test images.</summary>
    public static (string TrainImages, string TrainLabels, string TestImages, string TestLabels) Subset(int train, int test)
    {
        lock (Gate)
        {
            if (!Subsets.TryGetValue((train, test), out var folder))
            {
                folder = TempFolder.Create($"fashion-{train}-{test}");
                CopyIdx(Path.Combine(Folder.Value, "train-images-idx3-ubyte.gz"), Path.Combine(folder, "train-images.gz"), train);
                CopyIdx(Path.Combine(Folder.Value, "train-labels-idx1-ubyte.gz"), Path.Combine(folder, "train-labels.gz"), train);
                CopyIdx(Path.Combine(Folder.Value, "t10k-images-idx3-ubyte.gz"), Path.Combine(folder, "test-images.gz"), test);
                CopyIdx(Path.Combine(Folder.Value, "t10k-labels-idx1-ubyte.gz"), Path.Combine(folder, "test-labels.gz"), test);
                Subsets[(train, test)] = folder;
            }
            return (Path.Combine(folder, "train-images.gz"), Path.Combine(folder, "train-labels.gz"),
                Path.Combine(folder, "test-images.gz"), Path.Combine(folder, "test-labels.gz"));
        }
    }

    /// <summary>
    /// IDX files of <paramref name="count"/> training images that follow the first <paramref name="train"/>: a validation
    /// split for a dataset of the first <paramref name="train"/> (non-members other than the test set).
    /// </summary>
    public static (string Images, string Labels) Validation(int train, int count)
    {
        lock (Gate)
        {
            var folder = TempFolder.Create($"fashion-validation-{train}-{count}");
            CopyIdx(Path.Combine(Folder.Value, "train-images-idx3-ubyte.gz"), Path.Combine(folder, "validation-images.gz"), count, skip: train);
            CopyIdx(Path.Combine(Folder.Value, "train-labels-idx1-ubyte.gz"), Path.Combine(folder, "validation-labels.gz"), count, skip: train);
            return (Path.Combine(folder, "validation-images.gz"), Path.Combine(folder, "validation-labels.gz"));
        }
    }

    /// <summary>Trains a small CNN on the subset with the engine and writes its weights (spec and recipe in the metadata).</summary>
    public static string TrainedModel(int train, int test, int epochs = 8, int width = 8)
    {
        var files = Subset(train, test);
        var path = Path.Combine(Path.GetDirectoryName(files.TrainImages)!, $"cnn-w{width}-e{epochs}.safetensors");
        lock (Gate)
        {
            if (File.Exists(path)) return path;
            using var ti = File.OpenRead(files.TrainImages);
            using var tl = File.OpenRead(files.TrainLabels);
            using var si = File.OpenRead(files.TestImages);
            using var sl = File.OpenRead(files.TestLabels);
            using var dataset = IdxDatasetImporter.ReadTrainTest(ti, tl, si, sl);
            var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 28, 28], Outputs = 10, Width = width };
            var recipe = new TrainingOptions { Epochs = epochs, BatchSize = 64, LearningRate = 0.05, Seed = 1 };
            using var model = ModelZoo.Create(spec, recipe.Seed);
            using var data = new DeviceData(dataset, TorchSharp.torch.CPU);
            Trainer.Train(model, data, dataset.IndicesOf(Split.Train), recipe);
            ModelFile.Save(path, model, spec, recipe);
            return path;
        }
    }

    /// <summary>The PyTorch-scripted small CNN fixture, trained here with the engine; returns the TorchScript archive.</summary>
    public static byte[] TrainedTorchScript(int train, int test, int epochs = 3)
    {
        var files = Subset(train, test);
        using var ti = File.OpenRead(files.TrainImages);
        using var tl = File.OpenRead(files.TrainLabels);
        using var si = File.OpenRead(files.TestImages);
        using var sl = File.OpenRead(files.TestLabels);
        using var dataset = IdxDatasetImporter.ReadTrainTest(ti, tl, si, sl);
        using var model = TorchScriptModel.Load(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "fashion_cnn_torchscript.pt")));
        using var data = new DeviceData(dataset, TorchSharp.torch.CPU);
        Trainer.Train(model, data, dataset.IndicesOf(Split.Train), new TrainingOptions { Epochs = epochs, BatchSize = 64, LearningRate = 0.05, Seed = 1 });
        return model.Save();
    }

    static void CopyIdx(string source, string target, int count, int skip = 0)
    {
        using var input = new GZipStream(File.OpenRead(source), CompressionMode.Decompress);
        using var output = new GZipStream(File.Create(target), CompressionLevel.Fastest);
        var header = new byte[4];
        input.ReadExactly(header);
        var rank = header[3];
        var dims = new byte[4 * rank];
        input.ReadExactly(dims);
        var itemBytes = 1L;
        for (var d = 1; d < rank; d++) itemBytes *= System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(dims.AsSpan(4 * d));
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(dims, count);
        output.Write(header);
        output.Write(dims);
        var body = new byte[count * itemBytes];
        for (var skipped = 0; skipped < skip; skipped++) input.ReadExactly(body.AsSpan(0, (int)itemBytes));
        input.ReadExactly(body);
        output.Write(body);
    }

    static string FindPackageFolder()
    {
        using var dpkg = Process.Start(new ProcessStartInfo("dpkg", ["-L", "dataset-fashion-mnist"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var images = dpkg.StandardOutput.ReadToEnd().Split('\n').FirstOrDefault(f => f.EndsWith("/train-images-idx3-ubyte.gz", StringComparison.Ordinal));
        dpkg.WaitForExit();
        return images is null
            ? throw new InvalidOperationException("Debian's dataset-fashion-mnist is not installed: run the tests with scripts/test.sh, which installs it.")
            : Path.GetDirectoryName(images)!;
    }
}
