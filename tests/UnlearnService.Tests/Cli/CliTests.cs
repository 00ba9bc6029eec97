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
    public async Task Bench_SmallRun_WritesTablesWhoseRteTargetsUseMedianTimings()
    {
        var folder = TempFolder.Create("cli");
        var markdown = Path.Combine(folder, "BENCHMARKS.md");
        var json = Path.Combine(folder, "benchmark.json");
        // No PyTorch comparison: "false" stands in for the interpreter, so the throughput rows say "not measured".
        var (exit, output) = await CliProcess.RunAsync(new Dictionary<string, string> { ["UNLEARN_BENCH_PYTHON"] = "false" }, TimeSpan.FromMinutes(4),
            "bench", "--train-size", "1000", "--train-epochs", "2", "--width", "4", "--methods", "salun,ssd", "--no-tune", "--device", "cpu",
            "--out", markdown, "--json", json);

        Assert.True(exit == 0, output);
        var text = await File.ReadAllTextAsync(markdown);
        foreach (var scenario in new[] { "random 10%", "class 0", "subjects 1% (1 × 20)" })
        {
            Assert.Contains($"## {scenario}", text, StringComparison.Ordinal);
            Assert.Contains($"| {scenario}: SalUn RTE ≤ 25% of Retrain's |", text, StringComparison.Ordinal);
        }
        // SalUn's RTE is the median of its 3 timed runs; Retrain's that of its two seeds (the noise floor's run included).
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(text,
            @"- SalUn RTE [\d.]+ s \(median of 3 runs: [\d.]+, [\d.]+, [\d.]+ s\) = \d+% of Retrain's [\d.]+ s \(median of 2 runs: [\d.]+, [\d.]+ s\)").Count);
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        foreach (var scenario in report.RootElement.GetProperty("scenarios").EnumerateArray())
        {
            var salun = scenario.GetProperty("methods").EnumerateArray().Single(m => m.GetProperty("method").GetString() == "SalUn");
            var runs = salun.GetProperty("timedSeconds").EnumerateArray().Select(t => t.GetDouble()).Order().ToArray();
            Assert.Equal(3, runs.Length);
            Assert.Equal(runs[1], salun.GetProperty("seconds").GetDouble());
            var retrain = new[] { scenario.GetProperty("retrain"), scenario.GetProperty("retrainOtherSeed") }.Select(r => r.GetProperty("seconds").GetDouble());
            Assert.Equal(retrain.Average(), scenario.GetProperty("retrainSeconds").GetDouble(), 9);
        }
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

    [Fact]
    public async Task Forget_TorchScriptThatAbortsLibtorch_FailsWithAMessageAndWritesNothing()
    {
        var folder = TempFolder.Create("cli");
        var model = Path.Combine(folder, "broken.pt");
        await File.WriteAllBytesAsync(model, TorchScriptFixtures.Without(
            await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "Fixtures", "fashion_cnn_torchscript.pt")),
            "code/__torch__/torch/nn/modules/batchnorm.py"));
        var output = Path.Combine(folder, "forgotten.pt");

        var (exit, text) = await CliProcess.RunAsync("forget", "--model", model, "--subset", "300", "--class", "3", "--method", "ssd",
            "--device", "cpu", "--out", output);

        Assert.Equal(1, exit);
        Assert.Contains("error: Not a loadable TorchScript archive: libtorch aborted on it (Unknown type name", text, StringComparison.Ordinal);
        Assert.DoesNotContain("terminate called", text, StringComparison.Ordinal);
        Assert.Equal([model], Directory.GetFiles(folder));
    }

    [Fact]
    public async Task Forget_OutputOverAnInputOrDataOtherThanTheModelsOwn_IsRefusedBeforeAnyWork()
    {
        var folder = TempFolder.Create("cli");
        var model = Path.Combine(folder, "model.safetensors");
        var (trainExit, trainOutput) = await CliProcess.RunAsync("train", "--subset", "300", "--width", "4", "--epochs", "1", "--device", "cpu", "--out", model);
        Assert.True(trainExit == 0, trainOutput);
        var original = await File.ReadAllBytesAsync(model);
        string[] forget = ["forget", "--model", model, "--subset", "300", "--class", "3", "--method", "ssd", "--device", "cpu"];

        var metricsOverModel = await CliProcess.RunAsync([.. forget, "--out", Path.Combine(folder, "new.safetensors"), "--metrics", model]);
        var outOverModel = await CliProcess.RunAsync([.. forget, "--out", model]);
        var otherData = await CliProcess.RunAsync([.. forget, "--data-seed", "1", "--out", Path.Combine(folder, "new.safetensors")]);

        Assert.Equal(1, metricsOverModel.ExitCode);
        Assert.Contains("error: --metrics and --model name the same file", metricsOverModel.Output, StringComparison.Ordinal);
        Assert.Equal(1, outOverModel.ExitCode);
        Assert.Contains("error: --out and --model name the same file", outOverModel.Output, StringComparison.Ordinal);
        Assert.Equal(1, otherData.ExitCode);
        Assert.Contains("error: The model was trained on other samples than this data's training split", otherData.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Forgetting", metricsOverModel.Output + outOverModel.Output + otherData.Output, StringComparison.Ordinal);
        Assert.Equal(original, await File.ReadAllBytesAsync(model));
        Assert.Equal([model], Directory.GetFiles(folder));
    }

    [Theory]
    // Enum.TryParse, System.CommandLine's default, would OR the two names into SmallCnn.
    [InlineData("--arch Mlp,SmallCnn", "'Mlp,SmallCnn' is not one of Mlp, SmallCnn, ResNet18, TorchScript")]
    [InlineData("--schedule 2", "'2' is not one of Constant, Cosine, Step")]
    [InlineData("--out {folder}/sub/", "--out names a folder")]
    [InlineData("--out {folder}/data.csv", "--out and --data name the same file")]
    [InlineData("--report {folder}/data.csv", "--report and --data name the same file")]
    public async Task Train_ArgumentsRefusedBeforeAnyWork_LeaveTheFolderAsItWas(string arguments, string expected)
    {
        var folder = TempFolder.Create("cli");
        var csv = Path.Combine(folder, "data.csv");
        await File.WriteAllLinesAsync(csv, ["a,b,label", .. Enumerable.Range(0, 40).Select(i => $"{i % 7},{i % 5},{i % 2}")]);
        var given = arguments.Replace("{folder}", folder, StringComparison.Ordinal).Split(' ');
        string[] defaults = [.. given.Contains("--out") ? [] : new[] { "--out", Path.Combine(folder, "model.safetensors") },
            .. given.Contains("--arch") ? [] : new[] { "--arch", "Mlp" }];

        var (exit, output) = await CliProcess.RunAsync(["train", "--data", $"csv:{csv}", "--epochs", "1", "--device", "cpu", .. defaults, .. given]);

        Assert.NotEqual(0, exit);
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.DoesNotContain("train epoch", output, StringComparison.Ordinal);
        Assert.Equal([csv], Directory.GetFileSystemEntries(folder));
    }
}
