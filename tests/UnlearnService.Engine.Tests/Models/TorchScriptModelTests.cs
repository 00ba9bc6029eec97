using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Models;

public sealed class TorchScriptModelTests
{
    static byte[] Archive() => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny_mlp_torchscript.pt"));

    static readonly ModelSpec Spec = new() { Architecture = Architecture.TorchScript, InputShape = [8], Outputs = 3 };

    [Fact]
    public void Load_PyTorchArchive_ComputesPyTorchsOutputs()
    {
        using var model = TorchScriptModel.Load(Archive());
        using var io = SafeTensors.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny_mlp_torchscript_io.safetensors"));
        model.eval();

        using var output = model.forward(io["input"]);

        Assert.True(output.allclose(io["output"], rtol: 1e-4, atol: 1e-5));
        Assert.Contains("bn.running_mean", model.state_dict().Keys);
    }

    [Theory]
    [InlineData(UnlearningMethod.SalUn)]
    [InlineData(UnlearningMethod.Ssd)]
    public void Run_OnTorchScript_UnlearnsAndSavesBackAsTorchScript(UnlearningMethod method)
    {
        using var model = TorchScriptModel.Load(Archive());
        using var dataset = SyntheticData.Blobs(train: 120, test: 30, features: 8);
        using var data = new DeviceData(dataset, torch.CPU);
        var train = dataset.IndicesOf(Split.Train);
        var before = ModelState.Snapshot(model);
        var job = new UnlearningJob { Model = model, Spec = Spec, Data = data, Forget = train[..12], Retain = train[12..] };

        Unlearner.Run(method, new UnlearningSettings { Epochs = 1, Alpha = 1, Seed = 3 }, job);

        Assert.Contains(model.state_dict(), kv => !TensorAssert.Identical(before[kv.Key], kv.Value));
        using var reloaded = TorchScriptModel.Load(model.Save());
        foreach (var (name, value) in model.state_dict())
            TensorAssert.BitIdentical(value, reloaded.state_dict()[name], name);
    }

    [Fact]
    public void Run_RetrainOnTorchScript_ThrowsExplaining()
    {
        using var model = TorchScriptModel.Load(Archive());
        using var dataset = SyntheticData.Blobs(train: 40, test: 10, features: 8);
        using var data = new DeviceData(dataset, torch.CPU);
        var train = dataset.IndicesOf(Split.Train);
        var job = new UnlearningJob { Model = model, Spec = Spec, Data = data, Forget = train[..4], Retain = train[4..] };

        var error = Assert.Throws<ArgumentException>(() => Unlearner.Run(UnlearningMethod.Retrain, new UnlearningSettings(), job));
        Assert.Contains("TorchScript", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_NotAnArchive_ThrowsModelFormatException()
    {
        var error = Assert.Throws<ModelFormatException>(() => TorchScriptModel.Load([1, 2, 3, 4]));
        Assert.Contains("TorchScript", error.Message, StringComparison.Ordinal);
    }
}
