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

    [Theory]
    [InlineData(Architecture.Mlp, new long[] { 5 }, 3, 7, 0)]
    [InlineData(Architecture.Mlp, new long[] { 1, 6, 5 }, 4, 9, 3)]
    [InlineData(Architecture.SmallCnn, new long[] { 1, 28, 28 }, 10, 4, null)]
    [InlineData(Architecture.SmallCnn, new long[] { 3, 13, 9 }, 2, 5, null)]
    [InlineData(Architecture.ResNet18, new long[] { 3, 32, 32 }, 10, 8, null)]
    [InlineData(Architecture.ResNet18, new long[] { 1, 28, 28 }, 7, 64, null)]
    public void ParameterCount_MatchesTheBuiltModel(Architecture architecture, long[] shape, int outputs, int width, int? depth)
    {
        // The count bounds what Validate lets through before anything is allocated: it must be the real one.
        var spec = new ModelSpec { Architecture = architecture, InputShape = shape, Outputs = outputs, Width = width, Depth = depth };
        using var model = ModelZoo.Create(spec, seed: 1);

        Assert.Equal(model.parameters().Sum(p => p.numel()), (long)spec.ParameterCount());
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

    [Fact]
    public async Task Create_WhileAnotherThreadDrawsFromTheGlobalGenerator_SameWeights()
    {
        var spec = new ModelSpec { Architecture = Architecture.ResNet18, InputShape = [1, 16, 16], Outputs = 3, Width = 4 };
        using var expected = ModelZoo.Create(spec, seed: 5);
        using var stop = new CancellationTokenSource();
        var drawing = new TaskCompletionSource();
        var noise = Task.Factory.StartNew(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                using (torch.randn(64)) { }
                drawing.TrySetResult();
            }
        }, TaskCreationOptions.LongRunning);
        await drawing.Task;
        try
        {
            for (var i = 0; i < 20; i++)
            {
                using var again = ModelZoo.Create(spec, seed: 5);
                Assert.All(expected.state_dict(), kv => Assert.True(TensorAssert.Identical(kv.Value, again.state_dict()[kv.Key]), $"{kv.Key} differs in attempt {i}"));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await noise;
        }
    }

    [Theory]
    [InlineData(Architecture.SmallCnn, "conv1.weight", 9.0, false)]
    [InlineData(Architecture.SmallCnn, "fc1.weight", 16 * 7 * 7.0, false)]
    [InlineData(Architecture.SmallCnn, "fc2.weight", 128.0, false)]
    [InlineData(Architecture.ResNet18, "layer2.0.conv1.weight", 16 * 9.0, true)]
    public void Create_Weights_FollowPyTorchsInitialisation(Architecture architecture, string name, double fan, bool kaimingNormalFanOut)
    {
        var spec = new ModelSpec { Architecture = architecture, InputShape = [1, 28, 28], Outputs = 10, Width = 8 };
        using var model = ModelZoo.Create(spec, seed: 3);
        var weight = model.state_dict()[name];

        if (kaimingNormalFanOut)
        {
            // N(0, 2/fan_out): fan_out = 16 output channels × 3×3 here.
            var std = weight.std().item<float>();
            Assert.InRange(std, 0.9 * Math.Sqrt(2 / fan), 1.1 * Math.Sqrt(2 / fan));
        }
        else
        {
            // U(±1/√fan_in) for the weight and its bias: every value inside the bound, and the spread of a uniform (std = bound/√3).
            var bound = 1 / Math.Sqrt(fan);
            Assert.True(weight.abs().max().item<float>() <= bound, $"{name} exceeds ±{bound}");
            if (model.state_dict().TryGetValue(name.Replace("weight", "bias", StringComparison.Ordinal), out var bias))
                Assert.True(bias.abs().max().item<float>() <= bound, $"the bias of {name} exceeds ±{bound}");
            Assert.InRange(weight.std().item<float>(), 0.85 * bound / Math.Sqrt(3), 1.15 * bound / Math.Sqrt(3));
        }
        Assert.True(TensorAssert.Identical(model.state_dict()["bn1.weight"], torch.ones_like(model.state_dict()["bn1.weight"])));
    }

    [Theory]
    [InlineData(Architecture.SmallCnn, new long[] { 20 }, "needs an image input")]
    [InlineData(Architecture.Mlp, new long[] { 0 }, "positive dimensions")]
    public void Create_ImpossibleSpec_ThrowsNamingTheProblem(Architecture architecture, long[] shape, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => ModelZoo.Create(new ModelSpec { Architecture = architecture, InputShape = shape, Outputs = 3 }, seed: 1));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FirstNonFinite_InfiniteBatchNormStatistic_NamesTheBuffer()
    {
        using var model = ModelZoo.Create(new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 8, 8], Outputs = 2, Width = 4 }, seed: 1);
        Assert.Null(ModelState.FirstNonFinite(model));

        using (torch.no_grad()) model.state_dict()["bn1.running_var"][1] = float.PositiveInfinity;

        Assert.Equal("bn1.running_var", ModelState.FirstNonFinite(model));
    }

    [Fact]
    public void RelativeChange_OneParameterMoved_IsItsShareOfTheNormAndIgnoresBuffers()
    {
        using var model = ModelZoo.Create(new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 8, 8], Outputs = 2, Width = 4 }, seed: 1);
        var start = ModelState.Snapshot(model);
        Assert.Equal(0, ModelState.RelativeChange(model, start));

        var parameters = model.named_parameters().ToList();
        var total = Math.Sqrt(parameters.Sum(p => p.parameter.square().sum().item<float>()));
        var first = parameters[0].parameter;
        var norm = Math.Sqrt(first.square().sum().item<float>());
        using (torch.no_grad())
        {
            first.mul_(2); // moves it by exactly its own norm
            model.state_dict()["bn1.running_mean"].add_(5);
        }

        Assert.Equal(norm / total, ModelState.RelativeChange(model, start), 5);
        foreach (var t in start.Values) t.Dispose();
    }
}
