using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Runtime;

namespace UnlearnService.Cli;

/// <summary>Options shared by several commands, defined once.</summary>
internal static class CliOptions
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static Option<string> Data(string defaultValue = "fashion-mnist") => new("--data")
    {
        Description = $"Dataset: {DataSource.Help}.",
        DefaultValueFactory = _ => defaultValue,
    };

    public static readonly Option<string?> Target = new("--target") { Description = "CSV target column (default: label)." };
    public static readonly Option<bool> Regression = new("--regression") { Description = "CSV targets are real numbers (regression)." };
    public static readonly Option<int?> Subset = new("--subset") { Description = "Keep a seeded random subset of this many training samples." };
    public static readonly Option<int> Validation = new("--validation") { Description = "Move this many further training samples to a validation split (non-members for tuning).", DefaultValueFactory = _ => 0 };
    public static readonly Option<int?> SubjectSize = new("--subject-size") { Description = "Give training samples without a subject synthetic subjects of this many samples." };
    public static readonly Option<long> Seed = new("--seed") { Description = "Seed of the run's random choices (initialisation, shuffles, random labels).", DefaultValueFactory = _ => 0 };
    public static readonly Option<long> DataSeed = new("--data-seed")
    {
        Description = "Seed of the data's subset, validation split and synthetic subjects: give `forget` the one the model was trained with.",
        DefaultValueFactory = _ => 0,
    };
    public static readonly Option<string> Device = new("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };

    public static readonly Option<int?> Epochs = new("--epochs") { Description = "Epochs (method default when omitted)." };
    public static readonly Option<double?> LearningRate = new("--lr") { Description = "Learning rate (method default when omitted)." };
    public static readonly Option<int?> BatchSize = new("--batch") { Description = "Batch size (method default when omitted)." };
    public static readonly Option<double?> MaskRatio = new("--ratio") { Description = "SalUn mask ratio r (default 0.5)." };
    public static readonly Option<double?> Alpha = new("--alpha") { Description = "SSD selection α (default 10) or ℓ1 α." };
    public static readonly Option<double?> Lambda = new("--lambda") { Description = "SSD dampening λ (default 1)." };
    public static readonly Option<PassOrder?> PassOrder = new("--pass-order")
    {
        Description = "SalUn and RL: Sequential (Df then Dr each epoch, the default) or Shuffled (one mixed pass over both).",
        CustomParser = r => ParseName<PassOrder>(r),
    };

    public static void AddData(Command command, Option<string> data)
    {
        foreach (var option in new Option[] { data, Target, Regression, Subset, Validation, SubjectSize, DataSeed, Seed, Device })
            command.Options.Add(option);
    }

    public static void AddHyperparameters(Command command)
    {
        foreach (var option in new Option[] { Epochs, LearningRate, BatchSize, MaskRatio, Alpha, Lambda, PassOrder })
            command.Options.Add(option);
    }

    public static DataSource DataSourceOf(ParseResult result, Option<string> data) => new(
        result.GetValue(data)!, result.GetValue(Target), result.GetValue(Regression), result.GetValue(Subset),
        result.GetValue(Validation), result.GetValue(SubjectSize), result.GetValue(DataSeed));

    public static UnlearningSettings SettingsOf(ParseResult result) => new()
    {
        Epochs = result.GetValue(Epochs),
        LearningRate = result.GetValue(LearningRate),
        BatchSize = result.GetValue(BatchSize),
        MaskRatio = result.GetValue(MaskRatio),
        Alpha = result.GetValue(Alpha),
        Lambda = result.GetValue(Lambda),
        PassOrder = result.GetValue(PassOrder),
        Seed = result.GetValue(Seed),
    };

    public static TorchSharp.torch.Device DeviceOf(ParseResult result) => TorchRuntime.ResolveDevice(result.GetValue(Device)!);

    public static Option<string> Method() => new("--method")
    {
        Description = "retrain, ft, ga, rl, l1, salun, ssd or lf-ssd.",
        Required = true,
        CustomParser = r =>
        {
            var text = r.Tokens.Single().Value;
            if (!UnlearningMethodNames.TryParse(text, out _)) r.AddError($"Unknown method '{text}'.");
            return text;
        },
    };

    /// <summary>
    /// An enum option's value by declared name only (any case): System.CommandLine's own parsing takes numbers and ORs
    /// comma-separated names together ("Mlp,SmallCnn" would read as SmallCnn).
    /// </summary>
    public static TEnum ParseName<TEnum>(System.CommandLine.Parsing.ArgumentResult result) where TEnum : struct, Enum
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(' ', result.Tokens.Select(t => t.Value));
        if (EnumNames.TryParse<TEnum>(text, out var value)) return value;
        result.AddError($"'{text}' is not one of {EnumNames.List<TEnum>()}.");
        return default;
    }

    /// <summary>
    /// Runs a command's work; when Ctrl+C cancels <paramref name="cancellationToken"/>, ends with one line and exit code
    /// 130. Outputs are written only after the work (OutputFiles), so a cancelled command leaves none.
    /// </summary>
    public static Task<int> Cancellable(CancellationToken cancellationToken, Func<int> work) => Task.Run(() =>
    {
        // On a task of its own: System.CommandLine awaits it after a signal, which a synchronous action would not let it do.
        try
        {
            return work();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.Error.WriteLine();
            Console.Error.WriteLine("cancelled: nothing written");
            return 130;
        }
    }, CancellationToken.None);

    public static void WriteJson(Stream stream, object value) => JsonSerializer.Serialize(stream, value, Json);
}
