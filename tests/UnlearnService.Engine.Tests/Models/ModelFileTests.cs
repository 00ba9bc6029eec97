using TorchSharp;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Models;

public sealed class ModelFileTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Theory]
    [InlineData("resnet18_cifar_w8", Architecture.ResNet18, new long[] { 3, 32, 32 }, 8)]
    [InlineData("small_cnn_w4", Architecture.SmallCnn, new long[] { 1, 28, 28 }, 4)]
    public void Load_PyTorchStateDict_LoadsUnchangedAndComputesPyTorchsOutputs(string name, Architecture architecture, long[] shape, int width)
    {
        var spec = new ModelSpec { Architecture = architecture, InputShape = shape, Outputs = 10, Width = width };
        using var loaded = ModelFile.Load(Fixture($"{name}.safetensors"), spec);
        using var io = SafeTensors.Read(Fixture($"{name}_io.safetensors"));
        loaded.Model.eval();

        using var output = loaded.Model.forward(io["input"]);

        Assert.True(output.allclose(io["output"], rtol: 1e-4, atol: 1e-5),
            $"max difference {(output - io["output"]).abs().max().item<float>()}");
        Assert.Equal(3L, loaded.Model.state_dict()["bn1.num_batches_tracked"].item<long>());
    }

    [Fact]
    public void Save_ThenLoad_RoundTripsWeightsSpecAndRecipe()
    {
        var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 28, 28], Outputs = 10, Width = 4 };
        var recipe = new TrainingOptions { Epochs = 3, LearningRate = 0.02, Seed = 4 };
        using var model = ModelZoo.Create(spec, seed: 8);
        var path = Path.Combine(Directory.CreateTempSubdirectory().FullName, "m.safetensors");

        var sha = ModelFile.Save(path, model, spec, recipe);
        using var loaded = ModelFile.Load(path);

        Assert.Equal(64, sha.Length);
        Assert.Equal(spec.Architecture, loaded.Spec.Architecture);
        Assert.Equal(spec.InputShape, loaded.Spec.InputShape);
        Assert.Equal(recipe, loaded.Recipe);
        foreach (var (key, value) in model.state_dict())
            TensorAssert.BitIdentical(value, loaded.Model.state_dict()[key], key);
    }

    [Fact]
    public void Load_OurFileInPyTorch_KeysAreTorchvisions()
    {
        // Our files are plain state dicts: every key is a torchvision key, so torch's load_state_dict accepts them.
        var spec = new ModelSpec { Architecture = Architecture.ResNet18, InputShape = [3, 32, 32], Outputs = 10, Width = 8 };
        using var model = ModelZoo.Create(spec, seed: 1);
        using var stream = new MemoryStream();
        ModelFile.Save(stream, model, spec);
        stream.Position = 0;
        using var ours = SafeTensors.Read(stream);
        using var theirs = SafeTensors.Read(Fixture("resnet18_cifar_w8.safetensors"));

        Assert.Equal(theirs.Tensors.Select(t => (t.Name, string.Join(",", t.Tensor.shape), t.Tensor.dtype)).Order(),
            ours.Tensors.Select(t => (t.Name, string.Join(",", t.Tensor.shape), t.Tensor.dtype)).Order());
    }

    [Fact]
    public void Load_WrongArchitecture_ThrowsNamingMissingAndUnexpectedKeys()
    {
        var spec = new ModelSpec { Architecture = Architecture.Mlp, InputShape = [1, 28, 28], Outputs = 10 };

        var error = Assert.Throws<ModelFormatException>(() => ModelFile.Load(Fixture("small_cnn_w4.safetensors"), spec));

        Assert.Contains("missing [fc3.bias", error.Message, StringComparison.Ordinal);
        Assert.Contains("unexpected [bn1.bias", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_WrongWidth_ThrowsNamingTheShape()
    {
        var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 28, 28], Outputs = 10, Width = 8 };

        var error = Assert.Throws<ModelFormatException>(() => ModelFile.Load(Fixture("small_cnn_w4.safetensors"), spec));

        Assert.Matches(@"has shape \[[0-9, ]+\] but the architecture needs \[[0-9, ]+\]", error.Message);
    }

    [Fact]
    public void Load_ImpossibleStoredRecipe_ThrowsNamingIt()
    {
        var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 8, 8], Outputs = 2, Width = 4 };
        using var model = ModelZoo.Create(spec, seed: 1);
        using var stream = new MemoryStream();
        ModelFile.Save(stream, model, spec, new TrainingOptions { Augmentation = new Augmentation { Padding = 500 } });
        stream.Position = 0;

        var error = Assert.Throws<ModelFormatException>(() => ModelFile.Load(stream));

        Assert.Contains("stored recipe is impossible: Augmentation padding 500", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"architecture":"Mlp","inputShape":null,"outputs":2}""", "The model spec is impossible: Input shape [] must have positive dimensions.")]
    [InlineData("""{"architecture":7,"inputShape":[4],"outputs":2}""", "not a valid ModelSpec: Architecture must be one of the names Mlp, SmallCnn, ResNet18, TorchScript, not a JSON Number.")]
    [InlineData("""{"architecture":"1","inputShape":[4],"outputs":2}""", "Architecture must be one of the names Mlp, SmallCnn, ResNet18, TorchScript, not '1'.")]
    [InlineData("""{"architecture":"SmallCnn, ResNet18","inputShape":[4],"outputs":2}""", "Architecture must be one of the names Mlp, SmallCnn, ResNet18, TorchScript, not 'SmallCnn, ResNet18'.")]
    [InlineData("""{"architecture":"Mlp","inputShape":[4],"outputs":2,"task":7}""", "The model spec is impossible: Task 7 is not one of Classification, Regression.")]
    [InlineData("""{"architecture":"TorchScript","inputShape":[4],"outputs":2}""", "The spec names a TorchScript model, whose weights come in its archive, not as safetensors.")]
    [InlineData("""{"architecture":"Mlp","inputShape":[1000000],"outputs":2,"width":4096}""", "The model spec is impossible: Mlp at width 4096 on input [1000000] with 2 outputs would have 4.11E+09 parameters, over the limit of 250000000.")]
    [InlineData("""{"architecture":"Mlp","inputShape":[100000000],"outputs":2}""", "The model spec is impossible: Input shape [100000000] has more than 16777216 values per sample, the limit.")]
    [InlineData("""{"architecture":"Mlp","inputShape":[4294967296,4294967296],"outputs":2}""", "has more than 16777216 values per sample")]
    [InlineData("""{"architecture":"ResNet18","inputShape":[3,65536,65536],"outputs":2,"width":8}""", "has more than 16777216 values per sample")]
    [InlineData("""{"architecture":"Mlp","inputShape":[4],"outputs":2147483647}""", "The model spec is impossible: Outputs 2147483647 is over the limit of 1000000.")]
    [InlineData("""{"architecture":"SmallCnn","inputShape":[3,2048,2048],"outputs":2,"width":64}""", "over the limit of 250000000")]
    [InlineData("null", "The 'unlearn.spec' metadata is null, not a ModelSpec.")]
    public void Load_HostileSpecMetadata_IsRefusedBeforeAnyModelIsBuilt(string specJson, string message)
    {
        using var stream = new MemoryStream();
        SafeTensors.WriteStateDict(stream, new Dictionary<string, Tensor>(), new Dictionary<string, string> { [ModelFile.SpecKey] = specJson });
        stream.Position = 0;

        var error = Assert.Throws<ModelFormatException>(() => ModelFile.Load(stream));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"schedule":7}""", "LearningRateSchedule must be one of the names Constant, Cosine, Step, not a JSON Number.")]
    [InlineData("""{"schedule":"7"}""", "LearningRateSchedule must be one of the names Constant, Cosine, Step, not '7'.")]
    [InlineData("""{"schedule":"Constant, Cosine"}""", "LearningRateSchedule must be one of the names Constant, Cosine, Step, not 'Constant, Cosine'.")]
    public void Load_StoredRecipeWithoutAScheduleName_IsRefused(string recipeJson, string message)
    {
        var spec = new ModelSpec { Architecture = Architecture.Mlp, InputShape = [4], Outputs = 2, Width = 3, Depth = 1 };
        using var model = ModelZoo.Create(spec, seed: 1);
        using var stream = new MemoryStream();
        ModelFile.Save(stream, model, spec, extraMetadata: new Dictionary<string, string> { [ModelFile.RecipeKey] = recipeJson });
        stream.Position = 0;

        var error = Assert.Throws<ModelFormatException>(() => ModelFile.Load(stream));

        Assert.Equal($"The 'unlearn.recipe' metadata is not a valid TrainingOptions: {message}", error.Message);
    }

    [Fact]
    public void Validate_UndefinedScheduleOrArchitecture_NamesTheValue()
    {
        var recipe = Assert.Throws<ArgumentException>(() => new TrainingOptions { Schedule = (LearningRateSchedule)7 }.Validate());
        var spec = Assert.Throws<ArgumentException>(() => new ModelSpec { Architecture = (Architecture)9, InputShape = [4], Outputs = 2 }.Validate());

        Assert.Equal("Schedule 7 is not one of Constant, Cosine, Step.", recipe.Message);
        Assert.Equal("Architecture 9 is not one of Mlp, SmallCnn, ResNet18, TorchScript.", spec.Message);
    }

    [Theory]
    [InlineData("bn1.num_batches_tracked", ScalarType.Float32, 0.7, "'bn1.num_batches_tracked' holds a value that is not a whole number, which its Int64 buffer cannot take.")]
    [InlineData("bn1.num_batches_tracked", ScalarType.Float16, 3.0, null)]
    [InlineData("fc2.bias", ScalarType.Int64, 0.0, "'fc2.bias' has dtype Int64, which cannot hold Float32 weights.")]
    [InlineData("fc2.bias", ScalarType.Bool, 0.0, "'fc2.bias' has dtype Bool, which cannot hold Float32 weights.")]
    [InlineData("fc2.bias", ScalarType.Float64, 0.0, null)]
    [InlineData("bn1.num_batches_tracked", ScalarType.Float64, 1e30, "'bn1.num_batches_tracked' holds a value outside the range of Int64.")]
    [InlineData("bn1.num_batches_tracked", ScalarType.Float64, 9223372036854775808.0, "'bn1.num_batches_tracked' holds a value outside the range of Int64.")]
    [InlineData("bn1.num_batches_tracked", ScalarType.Float64, -9223372036854775808.0, null)]
    [InlineData("fc2.bias", ScalarType.Float64, 1e300, "'fc2.bias' holds a value outside the range of Float32.")]
    [InlineData("fc2.bias", ScalarType.Float64, double.PositiveInfinity, null)] // the file's own: the caller decides (FirstNonFinite)
    public void LoadStateDict_DtypeOfAnotherKind_IsRefusedAndFloatWidthsConvert(string name, ScalarType dtype, double added, string? message)
    {
        var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 8, 8], Outputs = 2, Width = 2 };
        using var source = ModelZoo.Create(spec, seed: 1);
        using var target = ModelZoo.Create(spec, seed: 2);
        var state = source.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        using var converted = state[name].to(dtype);
        if (added != 0) converted.add_(added);
        state[name] = converted;

        if (message is null)
        {
            ModelFile.LoadStateDict(target, state);
            using var expected = converted.to(target.state_dict()[name].dtype);
            Assert.True(TensorAssert.Identical(expected, target.state_dict()[name]));
            return;
        }
        var error = Assert.Throws<ModelFormatException>(() => ModelFile.LoadStateDict(target, state));
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Save_WriteFails_LeavesNoFileBehind()
    {
        var directory = Directory.CreateTempSubdirectory("modelfile-");
        try
        {
            var spec = new ModelSpec { Architecture = Architecture.Mlp, InputShape = [4], Outputs = 2, Width = 3, Depth = 1 };
            using var model = ModelZoo.Create(spec, seed: 1);
            model.to(ScalarType.ComplexFloat32); // safetensors has no complex dtype: the write fails once the file is open
            var path = Path.Combine(directory.FullName, "m.safetensors");

            var error = Assert.Throws<ArgumentException>(() => ModelFile.Save(path, model, spec));

            Assert.Contains("safetensors cannot hold", error.Message, StringComparison.Ordinal);
            Assert.Empty(directory.GetFiles());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Load_NoSpecAnywhere_ThrowsAskingForTheArchitecture()
    {
        var error = Assert.Throws<ModelFormatException>(() => ModelFile.Load(Fixture("small_cnn_w4.safetensors")));
        Assert.Contains("give the architecture", error.Message, StringComparison.Ordinal);
    }
}
