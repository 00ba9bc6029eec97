using TorchSharp;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests;

public sealed class TorchSmokeTests
{
    [Fact]
    public void Train_TinyModelFewSteps_LossDecreases()
    {
        TorchRuntime.Initialize();
        torch.manual_seed(7);
        using var model = nn.Sequential(("fc1", nn.Linear(4, 16)), ("relu", nn.ReLU()), ("fc2", nn.Linear(16, 2)));
        using var optimizer = optim.SGD(model.parameters(), learningRate: 0.1, momentum: 0.9);
        using var x = torch.randn(64, 4);
        using var y = (x[.., 0] + x[.., 1] > 0).to(ScalarType.Int64);

        float first = 0, last = 0;
        for (var step = 0; step < 30; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            loss.backward();
            optimizer.step();
            var value = loss.item<float>();
            if (step == 0) first = value;
            last = value;
        }

        Assert.True(last < first * 0.5f, $"loss went from {first} to {last}");
    }

    [Fact]
    public void Version_LoadedLibTorch_Is210()
    {
        Assert.StartsWith("2.10", TorchRuntime.Version);
    }

    [Theory]
    [InlineData("cpu", true)]
    [InlineData("auto", true)]
    [InlineData("CUDA:1", true)]
    [InlineData("cuda", true)]
    [InlineData("gpu", false)]
    [InlineData("cuda:x", false)]
    [InlineData("", false)]
    public void IsValid_DeviceNames_AcceptsDocumentedForms(string name, bool valid)
    {
        Assert.Equal(valid, DeviceName.IsValid(name));
    }

    [Fact]
    public void ResolveDevice_CudaOnCpuBuild_ThrowsClearError()
    {
        if (torch.cuda.is_available()) return;
        var error = Assert.Throws<ArgumentException>(() => TorchRuntime.ResolveDevice("cuda:0"));
        Assert.Contains("CUDA", error.Message);
        Assert.Equal(DeviceType.CPU, TorchRuntime.ResolveDevice("auto").type);
    }
}
