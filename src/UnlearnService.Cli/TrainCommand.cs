using System.CommandLine;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;

namespace UnlearnService.Cli;

/// <summary>`unlearn train`: trains a zoo model on a dataset and writes self-describing safetensors weights.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = CliOptions.Data();
        var architecture = new Option<Architecture>("--arch")
        {
            Description = "Mlp, SmallCnn or ResNet18.", DefaultValueFactory = _ => Architecture.SmallCnn, CustomParser = CliOptions.ParseName<Architecture>,
        };
        architecture.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<Architecture>() == Architecture.TorchScript)
                r.AddError("--arch TorchScript is not a zoo model: use Mlp, SmallCnn or ResNet18.");
        });
        var width = new Option<int?>("--width") { Description = "Model width (zoo default when omitted)." };
        var depth = new Option<int?>("--depth") { Description = "MLP hidden layers." };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs.", DefaultValueFactory = _ => 20 };
        var lr = new Option<double>("--lr") { Description = "Initial learning rate of SGD (momentum 0.9, weight decay 5e-4).", DefaultValueFactory = _ => 0.05 };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 128 };
        var schedule = new Option<LearningRateSchedule>("--schedule")
        {
            Description = "Learning-rate schedule: Constant, Cosine or Step.", DefaultValueFactory = _ => LearningRateSchedule.Cosine,
            CustomParser = CliOptions.ParseName<LearningRateSchedule>,
        };
        var flip = new Option<bool>("--augment-flip") { Description = "Augment training images with random horizontal flips." };
        var padding = new Option<int>("--augment-padding") { Description = "Augment training images with random shifts of up to this many pixels (zero padding)." };
        var minAccuracy = new Option<double?>("--min-train-accuracy") { Description = "Train again with twice the epochs (up to 4×) until training accuracy reaches this percentage." };
        minAccuracy.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double?>() is { } p && !(p is >= 0 and <= 100)) r.AddError($"--min-train-accuracy {p} is not a percentage.");
        });
        var output = new Option<string>("--out") { Description = "Weights file to write.", Required = true };
        var report = new Option<string?>("--report") { Description = "Write a JSON report here." };

        var command = new Command("train", "Train a zoo model (seeded, SGD with momentum and a schedule).");
        CliOptions.AddData(command, data);
        foreach (var option in new Option[] { architecture, width, depth, epochs, lr, batch, schedule, flip, padding, minAccuracy, output, report })
            command.Options.Add(option);
        command.SetAction((result, cancellationToken) => CliOptions.Cancellable(cancellationToken, () =>
        {
            var source = CliOptions.DataSourceOf(result, data);
            var outputs = OutputFiles.Check([("--out", result.GetValue(output)), ("--report", result.GetValue(report))],
                source.Files.Select(f => ("--data", (string?)f)));
            var device = CliOptions.DeviceOf(result);
            using var dataset = source.Load();
            var spec = new ModelSpec
            {
                Architecture = result.GetValue(architecture),
                InputShape = dataset.SampleShape,
                Outputs = dataset.Task == TaskKind.Classification ? dataset.ClassCount : (int)(dataset.Targets.dim() == 1 ? 1 : dataset.Targets.shape[1]),
                Task = dataset.Task,
                Width = result.GetValue(width),
                Depth = result.GetValue(depth),
            };
            var recipe = new TrainingOptions
            {
                Epochs = result.GetValue(epochs), LearningRate = result.GetValue(lr), BatchSize = result.GetValue(batch),
                Schedule = result.GetValue(schedule), Seed = result.GetValue(CliOptions.Seed),
                Augmentation = result.GetValue(flip) || result.GetValue(padding) != 0
                    ? new Augmentation { Padding = result.GetValue(padding), HorizontalFlip = result.GetValue(flip) }
                    : null,
            };
            var trained = Train(spec, recipe, dataset, device, result.GetValue(minAccuracy), cancellationToken);
            using var model = trained.Model;
            using var weights = new MemoryStream();
            ModelFile.Save(weights, model, spec, trained.Recipe, TrainingData.Metadata(dataset));
            var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(weights.ToArray()));
            outputs.WriteAll(new Dictionary<string, Action<Stream>>
            {
                ["--out"] = s => weights.WriteTo(s),
                ["--report"] = s => CliOptions.WriteJson(s, new { spec, recipe = trained.Recipe, sha256 = sha, trained.TrainAccuracy, trained.TestAccuracy, training = trained.Report, device = device.ToString() }),
            });
            Console.WriteLine($"Wrote {result.GetValue(output)} (sha256 {sha})");
            Console.WriteLine($"  {spec.Architecture} width {spec.ResolvedWidth}, {trained.Recipe.Epochs} epochs, {trained.Report.SamplesPerSecond:F0} samples/s, {trained.Report.Seconds:F1} s"
                + (trained.Report.RecomputedSteps > 0 ? $", {trained.Report.RecomputedSteps} steps recomputed after non-finite gradients" : ""));
            Console.WriteLine($"  train accuracy {trained.TrainAccuracy:F2}%  test accuracy {(double.IsNaN(trained.TestAccuracy) ? "not measured (no test split)" : $"{trained.TestAccuracy:F2}%")}");
            return 0;
        }));
        return command;
    }

    /// <summary>The outcome of <see cref="Train"/>: the model on the CPU and what it took.</summary>
    public sealed record Trained(torch.nn.Module<torch.Tensor, torch.Tensor> Model, TrainingOptions Recipe, TrainingReport Report, double TrainAccuracy, double TestAccuracy);

    /// <summary>Trains from scratch; with a minimum training accuracy, retrains with doubled epochs until reached.</summary>
    public static Trained Train(ModelSpec spec, TrainingOptions recipe, Dataset dataset, torch.Device device, double? minTrainAccuracy,
        CancellationToken cancellationToken = default)
    {
        using var data = new DeviceData(dataset, device);
        var train = dataset.IndicesOf(Split.Train);
        var test = dataset.IndicesOf(Split.Test);
        for (var attempt = 0; ; attempt++)
        {
            var model = ModelZoo.Create(spec, recipe.Seed);
            TrainingReport report;
            double trainAccuracy, testAccuracy;
            try
            {
                model.to(device);
                var progress = new ConsoleProgress($"train ({recipe.Epochs} epochs)");
                report = Trainer.Train(model, data, train, recipe, progress, cancellationToken);
                progress.Done();
                trainAccuracy = Predictions.Of(model, data, train).AccuracyPercent;
                testAccuracy = test.Length > 0 ? Predictions.Of(model, data, test).AccuracyPercent : double.NaN;
            }
            catch
            {
                model.Dispose(); // diverged or cancelled: the caller never sees this model
                throw;
            }
            if (minTrainAccuracy is null || trainAccuracy >= minTrainAccuracy || attempt == 2)
            {
                model.to(torch.CPU);
                return new Trained(model, recipe, report, trainAccuracy, testAccuracy);
            }
            Console.Error.WriteLine($"Training accuracy {trainAccuracy:F2}% < {minTrainAccuracy}%: training again with {2 * recipe.Epochs} epochs.");
            model.Dispose();
            recipe = recipe with { Epochs = 2 * recipe.Epochs };
        }
    }
}
