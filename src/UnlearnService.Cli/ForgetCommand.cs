using System.CommandLine;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;

namespace UnlearnService.Cli;

/// <summary>`unlearn forget` and `unlearn tune`: unlearn a forget set from a model and report before/after metrics.</summary>
internal static class ForgetCommand
{
    static readonly Option<string> Model = new("--model")
    {
        Description = "Weights written by `unlearn train` (or any safetensors with the spec in its metadata), or a TorchScript archive (*.pt).",
        Required = true,
    };
    static readonly Option<string[]> Ids = new("--ids") { Description = "Sample ids to forget (comma-separated).", AllowMultipleArgumentsPerToken = true, CustomParser = SplitCommas };
    static readonly Option<string?> IdsFile = new("--ids-file") { Description = "A file with one sample id per line." };
    static readonly Option<string[]> Subjects = new("--subjects") { Description = "Data subjects to forget (comma-separated).", AllowMultipleArgumentsPerToken = true, CustomParser = SplitCommas };
    static readonly Option<int?> Class = new("--class") { Description = "A class to forget." };
    static readonly Option<TuneObjective> Objective = new("--objective")
    {
        Description = "Tuning: EstimatedGap (least estimated gap to a retrained model) or UtilityLoss (least utility loss) among the candidates that pass.",
        DefaultValueFactory = _ => TuneObjective.EstimatedGap,
        CustomParser = CliOptions.ParseName<TuneObjective>,
    };

    static string[] SplitCommas(System.CommandLine.Parsing.ArgumentResult r) =>
        r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();

    public static Command CreateForget()
    {
        var data = CliOptions.Data();
        var method = CliOptions.Method();
        var tune = new Option<bool>("--tune") { Description = "Search the learning rate (α for SSD) first and use the best setting that meets the verdict." };
        var output = new Option<string>("--out") { Description = "Weights file to write.", Required = true };
        var metrics = new Option<string?>("--metrics") { Description = "Write metrics, settings and verdict as JSON here." };
        var command = new Command("forget", "Unlearn sample ids, subjects or a class from a model; write new weights and metrics.");
        AddCommon(command, data, method);
        command.Options.Add(tune);
        command.Options.Add(output);
        command.Options.Add(metrics);
        command.SetAction((result, token) => CliOptions.Cancellable(token,
            () => Run(result, data, method, result.GetValue(tune), result.GetValue(output), result.GetValue(metrics), token)));
        return command;
    }

    public static Command CreateTune()
    {
        var data = CliOptions.Data();
        var method = CliOptions.Method();
        var report = new Option<string?>("--report") { Description = "Write the search as JSON here." };
        var command = new Command("tune", "Search the learning rate (α for SSD) on held-out retain data and the validation split; print every candidate.");
        AddCommon(command, data, method);
        command.Options.Add(report);
        command.SetAction((result, token) => CliOptions.Cancellable(token,
            () => Run(result, data, method, tune: true, output: null, result.GetValue(report), token)));
        return command;
    }

    static void AddCommon(Command command, Option<string> data, Option<string> method)
    {
        command.Options.Add(Model);
        command.Options.Add(method);
        CliOptions.AddData(command, data);
        CliOptions.AddHyperparameters(command);
        foreach (var option in new Option[] { Ids, IdsFile, Subjects, Class, Objective }) command.Options.Add(option);
    }

    static int Run(ParseResult result, Option<string> data, Option<string> methodOption, bool tune, string? output, string? jsonPath,
        CancellationToken cancellationToken)
    {
        UnlearningMethodNames.TryParse(result.GetValue(methodOption), out var method);
        if (!tune && result.GetResult(Objective) is { Implicit: false })
            throw new ArgumentException("--objective chooses among tuning candidates: use it with --tune (or `unlearn tune`).");
        var settings = CliOptions.SettingsOf(result);
        if (tune) RefuseSearchedValues(result, method);
        var modelPath = result.GetValue(Model)!;
        var source = CliOptions.DataSourceOf(result, data);
        var outputs = OutputFiles.Check([("--out", output), (output is null ? "--report" : "--metrics", jsonPath)],
            [("--model", modelPath), ("--ids-file", result.GetValue(IdsFile)), .. source.Files.Select(f => ("--data", (string?)f))]);
        var device = CliOptions.DeviceOf(result);
        var spec = ForgetSpecOf(result);
        using var dataset = source.Load();
        using var loaded = LoadModel(modelPath, dataset, cancellationToken);
        EnsureFits(loaded, dataset);
        // Every value the method would refuse, before the evaluation spends time.
        var resolved = settings.Resolve(method, loaded.Recipe);
        WarnUnused(result, resolved);
        loaded.Model.to(device);
        using var deviceData = new DeviceData(dataset, device);
        var partition = ForgetPartition.Resolve(dataset, spec);
        if (partition.Test.Length == 0)
            throw new ArgumentException("The data has no test samples, on which forgetting is measured (TA, and the attack's non-members): "
                + "give idx: four files or a CSV `split` column with test rows.");
        var job = new UnlearningJob
        {
            Model = loaded.Model, Spec = loaded.Spec, Data = deviceData, Forget = partition.Forget, Retain = partition.Retain, Recipe = loaded.Recipe,
        };
        Console.WriteLine($"Forgetting {partition.Forget.Length} samples ({partition.Kind}); retain {partition.Retain.Length}, test {partition.Test.Length}, validation {partition.Validation.Length}; device {device}");
        var before = UnlearningMetrics.Measure(loaded.Model, deviceData, partition.Forget, partition.Retain, partition.Test, cancellationToken);

        TuneResult? tuning = null;
        if (tune)
        {
            var progress = new ConsoleProgress($"tune {method.ShortName()}");
            tuning = Tuner.Tune(method, settings, job, partition,
                new TuneOptions { Seed = settings.Seed, Objective = result.GetValue(Objective) }, progress, cancellationToken);
            progress.Done();
            PrintCandidates(tuning);
            settings = tuning.Chosen;
            if (output is null)
            {
                outputs.WriteAll(new Dictionary<string, Action<Stream>> { ["--report"] = s => CliOptions.WriteJson(s, tuning) });
                return 0;
            }
        }

        var runProgress = new ConsoleProgress(method.ShortName());
        var outcome = Unlearner.Run(method, settings, job, runProgress, cancellationToken);
        runProgress.Done();
        outcome.ComputedTrainingSetImportance?.Dispose();
        var after = UnlearningMetrics.Measure(loaded.Model, deviceData, partition.Forget, partition.Retain, partition.Test, cancellationToken);
        var verdict = Verdict.Judge(before, after, partition.Kind, dataset.ClassCount);
        loaded.Model.to(torch.CPU);
        var weights = Serialize(loaded);
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(weights));
        outputs.WriteAll(new Dictionary<string, Action<Stream>>
        {
            ["--out"] = s => s.Write(weights),
            ["--metrics"] = s => CliOptions.WriteJson(s, new
            {
                method = method.ShortName(), settings = outcome.Settings, rteSeconds = outcome.Seconds, outcome.Details,
                // What the updates and Retrain take from the model's recipe: augmentation and the learning-rate schedule.
                recipe = loaded.Recipe,
                model = new { path = modelPath, sha256 = Sha256Of(modelPath) },
                data = new { source = source.Spec, source.Target, source.Regression, source.Subset, source.Validation, subjectSize = source.SubjectSize, dataSeed = source.Seed },
                forget = new { kind = partition.Kind, count = partition.Forget.Length }, before, after, verdict, tuning,
                device = device.ToString(), outputSha256 = sha, metricDefinitions = UnlearningMetrics.DefinitionVersion,
            }),
        });

        Console.WriteLine($"Wrote {output} (sha256 {sha}); RTE {outcome.Seconds:F2} s");
        Console.WriteLine(MarkdownTable.Metrics([("before", before), ("after", after)]));
        Console.WriteLine($"Verdict: {(verdict.Passed ? "PASS" : "FAIL")}");
        foreach (var c in verdict.Criteria) Console.WriteLine($"  {c.Outcome,-12} {c.Name}: {c.Explanation}");
        if (jsonPath is not null) Console.WriteLine($"Wrote {jsonPath}");
        return 0;
    }

    /// <summary>A *.pt file is TorchScript, shaped by the dataset; anything else safetensors with its spec.</summary>
    static LoadedModel LoadModel(string path, Dataset dataset, CancellationToken cancellationToken)
    {
        using var stream = File.OpenRead(path);
        if (!path.EndsWith(".pt", StringComparison.OrdinalIgnoreCase))
        {
            var model = ModelFile.Load(stream);
            TrainingData.EnsureTrainedOn(model, dataset);
            return model;
        }
        // libtorch aborts the process on some malformed archives: a child process tries it first.
        TorchScriptCheck.EnsureSafeAsync(HostCommand.Of(typeof(ForgetCommand).Assembly), path, dataset.SampleShape, TimeSpan.FromMinutes(10),
            cancellationToken).GetAwaiter().GetResult();
        return ModelArchive.Load(stream, new ModelSpec
        {
            Architecture = Architecture.TorchScript, InputShape = dataset.SampleShape, Task = dataset.Task,
            Outputs = dataset.Task == TaskKind.Classification ? dataset.ClassCount : 1,
        });
    }

    /// <summary>The model's inputs and outputs against the data's, before any work.</summary>
    static void EnsureFits(LoadedModel model, Dataset dataset)
    {
        if (!model.Spec.InputShape.SequenceEqual(dataset.SampleShape))
            throw new ArgumentException($"The model takes inputs [{string.Join(", ", model.Spec.InputShape)}] but the data's samples are [{string.Join(", ", dataset.SampleShape)}].");
        if (model.Spec.Task != dataset.Task)
            throw new ArgumentException($"The model is a {model.Spec.Task} model but the data is for {dataset.Task}.");
        if (dataset.Task == TaskKind.Classification && model.Spec.Outputs != dataset.ClassCount)
            throw new ArgumentException($"The model has {model.Spec.Outputs} outputs but the data has {dataset.ClassCount} classes.");
    }

    /// <summary>The weights in their own kind; zoo weights keep the input's fingerprint of its training data, if it had one.</summary>
    static byte[] Serialize(LoadedModel model)
    {
        using var buffer = new MemoryStream();
        if (ModelArchive.IsTorchScript(model.Spec)) ModelArchive.Save(buffer, model, model.Recipe);
        else ModelFile.Save(buffer, model.Model, model.Spec, model.Recipe, TrainingData.Carried(model));
        return buffer.ToArray();
    }

    static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }

    /// <summary>Tuning searches these values, so a value given for them would be silently replaced: refused instead.</summary>
    static void RefuseSearchedValues(ParseResult result, UnlearningMethod method)
    {
        Option[] searched = method switch
        {
            UnlearningMethod.SalUn or UnlearningMethod.RandomLabel => [CliOptions.LearningRate, CliOptions.PassOrder],
            UnlearningMethod.FineTune or UnlearningMethod.GradientAscent => [CliOptions.LearningRate],
            UnlearningMethod.L1Sparse or UnlearningMethod.Ssd or UnlearningMethod.SsdLabelFree => [CliOptions.Alpha],
            _ => [],
        };
        if (searched.FirstOrDefault(o => result.GetResult(o) is { Implicit: false }) is { } given)
            throw new ArgumentException($"Tuning searches {given.Name} for {method.ShortName()}: leave it out, or run `forget` without --tune to use it.");
    }

    /// <summary>Says which given values the method does not use (resolving drops them).</summary>
    static void WarnUnused(ParseResult result, UnlearningSettings resolved)
    {
        (Option Option, bool Used)[] checks =
        [
            (CliOptions.Epochs, resolved.Epochs is not null), (CliOptions.LearningRate, resolved.LearningRate is not null),
            (CliOptions.BatchSize, resolved.BatchSize is not null), (CliOptions.MaskRatio, resolved.MaskRatio is not null),
            (CliOptions.Alpha, resolved.Alpha is not null), (CliOptions.Lambda, resolved.Lambda is not null),
            (CliOptions.PassOrder, resolved.PassOrder is not null),
        ];
        foreach (var (option, used) in checks)
            if (!used && result.GetResult(option) is { Implicit: false })
                Console.Error.WriteLine($"warning: {option.Name} does not apply to this method; ignored.");
    }

    static ForgetSpec ForgetSpecOf(ParseResult result)
    {
        var ids = result.GetValue(Ids);
        if (result.GetValue(IdsFile) is { } file)
            ids = [.. ids ?? [], .. File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0)];
        var subjects = result.GetValue(Subjects);
        return new ForgetSpec
        {
            SampleIds = ids is { Length: > 0 } ? ids : null,
            SubjectIds = subjects is { Length: > 0 } ? subjects : null,
            Class = result.GetValue(Class),
        };
    }

    static void PrintCandidates(TuneResult tuning)
    {
        Console.WriteLine($"Tuning {tuning.Method.ShortName()}: held-out retain {tuning.HoldoutCount}, validation {tuning.ValidationCount}");
        Console.WriteLine($"Chosen by {tuning.Objective}: among the candidates that pass, the least; none passing, the least bad.");
        Console.WriteLine("| candidate | verdict | utility loss (points) | estimated gap | forget accuracy | RTE (s) |");
        Console.WriteLine("| --- | --- | ---: | ---: | ---: | ---: |");
        foreach (var c in tuning.Candidates)
        {
            var mark = c.Settings == tuning.Chosen ? " **chosen**" : "";
            Console.WriteLine($"| {Engine.Benchmarking.BenchmarkRunner.Describe(c.Settings)}{mark} | {(c.Verdict.Passed ? "pass" : "fail")} | {c.UtilityLoss:F2} | {c.EstimatedGap:F2} | {c.ForgetAccuracy:F2} | {c.Seconds:F1} |");
        }
        foreach (var d in tuning.Diverged)
            Console.WriteLine($"| {Engine.Benchmarking.BenchmarkRunner.Describe(d.Settings)} | diverged | | | | |");
        if (!tuning.ChosenPassed) Console.WriteLine("No candidate met every threshold; the chosen one is the least bad.");
    }
}
