using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Training;

public sealed class AugmentationTests
{
    /// <summary>Images whose pixels are all distinct and non-zero, so a shift or a mirror can be recognised exactly.</summary>
    static Tensor Images(int count, int channels = 2, int size = 5) =>
        torch.arange(1, 1 + count * channels * size * size, dtype: ScalarType.Float32).reshape(count, channels, size, size);

    /// <summary>The image shifted by (dy, dx) with zeros coming in, optionally mirrored left to right first.</summary>
    static Tensor Shifted(Tensor image, int dy, int dx, bool mirror)
    {
        var source = mirror ? image.flip(2) : image;
        var (h, w) = (source.shape[1], source.shape[2]);
        var result = torch.zeros_like(source);
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
            {
                var (sy, sx) = (y + dy, x + dx);
                if (sy >= 0 && sy < h && sx >= 0 && sx < w) result[.., y, x] = source[.., sy, sx];
            }
        return result;
    }

    [Fact]
    public void Apply_Padding_EachImageIsItsOwnShiftWithinThePaddingAndMirrorsOccur()
    {
        using var scope = torch.NewDisposeScope();
        var images = Images(48);
        using var generator = new Generator(3, torch.CPU);
        var augmentation = new Augmentation { Padding = 2, HorizontalFlip = true };

        var output = augmentation.Apply(images, generator);

        Assert.Equal(images.shape, output.shape);
        var seen = new HashSet<(int, int, bool)>();
        for (var i = 0; i < 48; i++)
        {
            var match = (from dy in Enumerable.Range(-2, 5)
                         from dx in Enumerable.Range(-2, 5)
                         from mirror in new[] { false, true }
                         where TensorAssert.Identical(Shifted(images[i], dy, dx, mirror), output[i])
                         select (dy, dx, mirror)).ToList();
            Assert.True(match.Count == 1, $"image {i} is not exactly one shift/mirror of its input ({match.Count} matches)");
            seen.Add(match[0]);
        }
        Assert.Contains(seen, s => s.Item3);
        Assert.Contains(seen, s => !s.Item3);
        Assert.True(seen.Count > 10, $"only {seen.Count} distinct shifts in 48 draws");
    }

    [Fact]
    public void Apply_FlipOnly_EachImageIsItselfOrItsMirror()
    {
        using var scope = torch.NewDisposeScope();
        var images = Images(32);
        using var generator = new Generator(4, torch.CPU);

        var output = new Augmentation { Padding = 0, HorizontalFlip = true }.Apply(images, generator);

        var mirrored = 0;
        for (var i = 0; i < 32; i++)
        {
            var same = TensorAssert.Identical(images[i], output[i]);
            var mirror = TensorAssert.Identical(images[i].flip(2), output[i]);
            Assert.True(same ^ mirror, $"image {i} is neither itself nor its mirror");
            mirrored += mirror ? 1 : 0;
        }
        Assert.InRange(mirrored, 6, 26);
    }

    [Fact]
    public void Apply_SameSeed_SameOutput_OtherSeed_Different()
    {
        using var scope = torch.NewDisposeScope();
        var images = Images(16);
        var augmentation = new Augmentation { Padding = 2, HorizontalFlip = true };
        using var a = new Generator(9, torch.CPU);
        using var b = new Generator(9, torch.CPU);
        using var c = new Generator(10, torch.CPU);

        Assert.True(TensorAssert.Identical(augmentation.Apply(images, a), augmentation.Apply(images, b)));
        Assert.False(TensorAssert.Identical(augmentation.Apply(images, a), augmentation.Apply(images, c)));
    }

    [Fact]
    public void Apply_NotAnImageBatch_ThrowsNamingTheShape()
    {
        using var features = torch.zeros(4, 8);
        using var generator = new Generator(1, torch.CPU);

        var error = Assert.Throws<ArgumentException>(() => new Augmentation { HorizontalFlip = true }.Apply(features, generator));

        Assert.Contains("image batches", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_AugmentedRecipeOnTabularData_Throws()
    {
        using var dataset = SyntheticData.Blobs();
        using var data = new DeviceData(dataset, torch.CPU);
        using var model = ModelZoo.Create(new ModelSpec { Architecture = Architecture.Mlp, InputShape = [8], Outputs = 3 }, seed: 1);

        var error = Assert.Throws<ArgumentException>(() =>
            Trainer.Train(model, data, dataset.IndicesOf(Split.Train), new TrainingOptions { Epochs = 1, Augmentation = new Augmentation { HorizontalFlip = true } }));

        Assert.Contains("image batches", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(65)]
    public void Validate_ImpossiblePadding_Throws(int padding)
    {
        var error = Assert.Throws<ArgumentException>(() => new TrainingOptions { Augmentation = new Augmentation { Padding = padding } }.Validate());
        Assert.Contains("padding", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AugmentationThatChangesNothing_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => new TrainingOptions { Augmentation = new Augmentation() }.Validate());
        Assert.Contains("does nothing", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(UnlearningMethod.SalUn)]
    [InlineData(UnlearningMethod.FineTune)]
    [InlineData(UnlearningMethod.GradientAscent)]
    public void Unlearn_SameWeightsAugmentedRecipe_IsDeterministicAndDiffersFromThePlainRecipe(UnlearningMethod method)
    {
        using var dataset = SyntheticData.Images();
        using var data = new DeviceData(dataset, torch.CPU);
        var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 8, 8], Outputs = 2, Width = 4 };
        var plain = new TrainingOptions { Epochs = 3, BatchSize = 16, LearningRate = 0.05, Seed = 2 };
        var augmented = plain with { Augmentation = new Augmentation { Padding = 1, HorizontalFlip = true } };
        var train = dataset.IndicesOf(Split.Train);
        using var model = ModelZoo.Create(spec, seed: 1);
        Trainer.Train(model, data, train, plain);
        var start = ModelState.Snapshot(model);

        // The same trained weights each time: only the recipe (and so the augmentation) differs.
        Dictionary<string, Tensor> Unlearn(TrainingOptions recipe)
        {
            ModelState.Restore(model, start);
            var job = new UnlearningJob { Model = model, Spec = spec, Data = data, Forget = train.Take(8).ToArray(), Retain = train.Skip(8).ToArray(), Recipe = recipe };
            Unlearner.Run(method, new UnlearningSettings { Epochs = 2, Seed = 4, LearningRate = 0.01 }, job);
            return ModelState.Snapshot(model);
        }

        var first = Unlearn(augmented);
        var second = Unlearn(augmented);
        var withoutAugmentation = Unlearn(plain);

        foreach (var (name, value) in first)
            TensorAssert.BitIdentical(value, second[name], name);
        Assert.False(TensorAssert.Identical(first["conv1.weight"], withoutAugmentation["conv1.weight"]));
    }

    [Fact]
    public void SaliencyGradient_WithAugmentation_SeesTheAugmentedImages()
    {
        using var scope = torch.NewDisposeScope();
        using var dataset = SyntheticData.Images();
        using var data = new DeviceData(dataset, torch.CPU);
        var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 8, 8], Outputs = 2, Width = 4 };
        using var model = ModelZoo.Create(spec, seed: 1);
        var forget = dataset.IndicesOf(Split.Train).Take(16).ToArray();
        var augmentation = new Augmentation { HorizontalFlip = true };

        Tensor[] Gradient(Augmentation? a)
        {
            using var generator = new Generator(3, torch.CPU);
            return Saliency.Gradient(model, data, forget, 16, generator, a, null, default);
        }

        var plain = Gradient(null);
        var flipped = Gradient(augmentation);
        var again = Gradient(augmentation);

        for (var i = 0; i < plain.Length; i++) TensorAssert.BitIdentical(flipped[i], again[i], $"parameter {i}");
        Assert.False(TensorAssert.Identical(plain[0], flipped[0]));
        foreach (var g in plain.Concat(flipped).Concat(again)) g.Dispose();
    }

    [Fact]
    public void ModelFile_AugmentedRecipe_RoundTrips()
    {
        var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 8, 8], Outputs = 2, Width = 4 };
        var recipe = new TrainingOptions { Epochs = 7, Augmentation = new Augmentation { Padding = 0, HorizontalFlip = true } };
        using var model = ModelZoo.Create(spec, seed: 1);
        using var stream = new MemoryStream();

        ModelFile.Save(stream, model, spec, recipe);
        stream.Position = 0;
        using var loaded = ModelFile.Load(stream);

        Assert.Equal(recipe, loaded.Recipe);
    }
}
