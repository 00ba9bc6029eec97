using TorchSharp;
using UnlearnService.Engine.Data;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests;

/// <summary>Small seeded datasets for fast behaviour tests.</summary>
internal static class SyntheticData
{
    /// <summary>K Gaussian blobs in <paramref name="features"/> dimensions; the last <paramref name="test"/> samples are the test split.</summary>
    public static Dataset Blobs(int train = 240, int test = 60, int classes = 3, int features = 8, long seed = 5, double spread = 1.0, int validation = 0)
    {
        var n = train + test + validation;
        var generator = new Generator((ulong)seed, torch.CPU);
        var labels = torch.randint(0, classes, [n], dtype: ScalarType.Int64, generator: generator);
        var centres = Times(torch.randn([classes, features], generator: generator), 2);
        var x = centres.index_select(0, labels) + Times(torch.randn([n, features], generator: generator), spread);
        return new Dataset(
            x.to(ScalarType.Float32),
            labels,
            Enumerable.Range(0, n).Select(i => $"s{i}").ToArray(),
            Enumerable.Range(0, n).Select(i => (string?)$"subject{i / 10}").ToArray(),
            Enumerable.Range(0, n).Select(i => i < train ? Split.Train : i < train + test ? Split.Test : Split.Validation).ToArray(),
            TaskKind.Classification,
            classes);
    }

    /// <summary>y = w·x + noise, regression with one target.</summary>
    public static Dataset Linear(int train = 200, int test = 50, int features = 6, long seed = 9)
    {
        var n = train + test;
        var generator = new Generator((ulong)seed, torch.CPU);
        var x = torch.randn([n, features], generator: generator);
        var w = torch.randn([features], generator: generator);
        var y = x.matmul(w) + Times(torch.randn([n], generator: generator), 0.1);
        return new Dataset(
            x, y.to(ScalarType.Float32),
            Enumerable.Range(0, n).Select(i => $"r{i}").ToArray(),
            Enumerable.Range(0, n).Select(_ => (string?)null).ToArray(),
            Enumerable.Range(0, n).Select(i => i < train ? Split.Train : Split.Test).ToArray(),
            TaskKind.Regression,
            0);
    }

    /// <summary>Two classes of 1×8×8 images, a bright top half or a bright bottom half, with noise: mirroring keeps the class.</summary>
    public static Dataset Images(int train = 64, int test = 16)
    {
        var n = train + test;
        using var generator = new Generator(6, torch.CPU);
        var labels = torch.randint(0, 2, [n], dtype: ScalarType.Int64, generator: generator);
        var top = torch.cat([torch.ones(1, 4, 8), torch.zeros(1, 4, 8)], 1);
        var images = torch.where(labels.to_type(ScalarType.Bool).view(n, 1, 1, 1), top.flip(1), top) + Times(torch.randn([n, 1, 8, 8], generator: generator), 0.3);
        return new Dataset(images.to(ScalarType.Float32), labels,
            Enumerable.Range(0, n).Select(i => $"i{i}").ToArray(),
            Enumerable.Range(0, n).Select(_ => (string?)null).ToArray(),
            Enumerable.Range(0, n).Select(i => i < train ? Split.Train : Split.Test).ToArray(),
            TaskKind.Classification, 2);
    }

    /// <summary>
    /// <paramref name="t"/> × <paramref name="factor"/> through a Scalar held for the call: an implicit one (t * 2) can be
    /// finalized while libtorch still reads it, which under a parallel test run's GC pressure garbles the data.
    /// </summary>
    public static Tensor Times(Tensor t, double factor)
    {
        using var scalar = factor.ToScalar();
        return t.mul(scalar);
    }
}
