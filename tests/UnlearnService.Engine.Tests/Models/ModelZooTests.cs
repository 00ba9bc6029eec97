using System.Text.Json;
using TorchSharp;
using UnlearnService.Engine.Models;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Models;

public sealed class ModelZooTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public void Create_ResNet18Width64_StateDictMatchesTorchvisionKeysAndShapes()
    {
        using var model = ModelZoo.Create(new ModelSpec { Architecture = Architecture.ResNet18, InputShape = [3, 32, 32], Outputs = 10 }, seed: 1);
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("torchvision_resnet18_keys.json"))).RootElement
            .EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray());

        var actual = model.state_dict();

        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, shape) in expected)
            Assert.True(shape.SequenceEqual(actual[name].shape), $"{name}: expected [{string.Join(",", shape)}], got [{string.Join(",", actual[name].shape)}]");
    }

    [Fact]
    public void Create_SmallCnn_UsesPyTorchNames()
    {
        using var model = ModelZoo.Create(new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 28, 28], Outputs = 10, Width = 4 }, seed: 1);

        Assert.Equal(
            ["bn1.bias", "bn1.num_batches_tracked", "bn1.running_mean", "bn1.running_var", "bn1.weight",
             "bn2.bias", "bn2.num_batches_tracked", "bn2.running_mean", "bn2.running_var", "bn2.weight",
             "conv1.weight", "conv2.weight", "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"],
            model.state_dict().Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(0, new[] { "fc1.bias", "fc1.weight" })]
    [InlineData(2, new[] { "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "fc3.bias", "fc3.weight" })]
    public void Create_Mlp_NamesLayersFc1ToFcN(int depth, string[] names)
    {
        using var model = ModelZoo.Create(new ModelSpec { Architecture = Architecture.Mlp, InputShape = [5], Outputs = 3, Depth = depth, Width = 7 }, seed: 1);

        Assert.Equal(names, model.state_dict().Keys.Order(StringComparer.Ordinal));
        using var output = model.forward(torch.zeros(4, 5));
        Assert.Equal([4L, 3L], output.shape);
    }

    [Fact]
    public void Create_SameSeed_SameWeights()
    {
        var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 28, 28], Outputs = 10, Width = 4 };
        using var a = ModelZoo.Create(spec, seed: 42);
        using var b = ModelZoo.Create(spec, seed: 42);
        using var c = ModelZoo.Create(spec, seed: 43);

        Assert.All(a.state_dict(), kv => Assert.True(TensorAssert.Identical(kv.Value, b.state_dict()[kv.Key]), kv.Key));
        Assert.False(TensorAssert.Identical(a.state_dict()["conv1.weight"], c.state_dict()["conv1.weight"]));
    }

    [Theory]
    [InlineData(Architecture.SmallCnn, new long[] { 20 }, "needs an image input")]
    [InlineData(Architecture.Mlp, new long[] { 0 }, "positive dimensions")]
    public void Create_ImpossibleSpec_ThrowsNamingTheProblem(Architecture architecture, long[] shape, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => ModelZoo.Create(new ModelSpec { Architecture = architecture, InputShape = shape, Outputs = 3 }, seed: 1));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
