using System.Text.Json;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Cli;

/// <summary>The `unlearn` tool as a user runs it: a process on real Fashion-MNIST data and real files.</summary>
public sealed class CliTests
{
    [Fact]
    public async Task TrainThenForget_AugmentedRecipe_WritesWeightsThatCarryTheRecipeAndMetrics()
    {
        var folder = TempFolder.Create("cli");
        var weights = Path.Combine(folder, "model.safetensors");
        var forgotten = Path.Combine(folder, "forgotten.safetensors");
        var metrics = Path.Combine(folder, "metrics.json");

        var (trainExit, trainOutput) = await CliProcess.RunAsync("train", "--subset", "600", "--width", "4", "--epochs", "2",
            "--augment-flip", "--augment-padding", "1", "--device", "cpu", "--out", weights);
        Assert.True(trainExit == 0, trainOutput);
        using (var loaded = ModelFile.Load(weights))
            Assert.Equal(new Augmentation { Padding = 1, HorizontalFlip = true }, loaded.Recipe!.Augmentation);

        var (forgetExit, forgetOutput) = await CliProcess.RunAsync("forget", "--model", weights, "--subset", "600", "--class", "3",
            "--method", "salun", "--epochs", "1", "--pass-order", "shuffled", "--device", "cpu", "--out", forgotten, "--metrics", metrics);
        Assert.True(forgetExit == 0, forgetOutput);
        Assert.Contains("Verdict:", forgetOutput, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(metrics));
        Assert.Equal("salun", json.RootElement.GetProperty("method").GetString());
        Assert.Equal(1, json.RootElement.GetProperty("settings").GetProperty("epochs").GetInt32());
        Assert.Equal("Shuffled", json.RootElement.GetProperty("settings").GetProperty("passOrder").GetString());
        Assert.True(json.RootElement.GetProperty("after").GetProperty("forgetCount").GetInt32() > 0);
        using var after = ModelFile.Load(forgotten);
        Assert.Equal(new Augmentation { Padding = 1, HorizontalFlip = true }, after.Recipe!.Augmentation);
    }

    [Fact]
    public async Task Train_AugmentationOnTabularData_FailsWithAMessage()
    {
        var folder = TempFolder.Create("cli");
        var csv = Path.Combine(folder, "data.csv");
        await File.WriteAllLinesAsync(csv, ["a,b,label", .. Enumerable.Range(0, 40).Select(i => $"{i % 7},{i % 5},{i % 2}")]);

        var (exit, output) = await CliProcess.RunAsync("train", "--data", $"csv:{csv}", "--arch", "Mlp", "--epochs", "1",
            "--augment-flip", "--device", "cpu", "--out", Path.Combine(folder, "model.safetensors"));

        Assert.NotEqual(0, exit);
        Assert.Contains("image batches", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(folder, "model.safetensors")));
    }
}
