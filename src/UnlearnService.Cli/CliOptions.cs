using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using UnlearnService.Engine.Data;
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
    public static readonly Option<long> Seed = new("--seed") { Description = "Seed of every random choice.", DefaultValueFactory = _ => 0 };
    public static readonly Option<string> Device = new("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };

    public static readonly Option<int?> Epochs = new("--epochs") { Description = "Epochs (method default when omitted)." };
    public static readonly Option<double?> LearningRate = new("--lr") { Description = "Learning rate (method default when omitted)." };
    public static readonly Option<int?> BatchSize = new("--batch") { Description = "Batch size (method default when omitted)." };
    public static readonly Option<double?> MaskRatio = new("--ratio") { Description = "SalUn mask ratio r (default 0.5)." };
    public static readonly Option<double?> Alpha = new("--alpha") { Description = "SSD selection α (default 10) or ℓ1 α." };
    public static readonly Option<double?> Lambda = new("--lambda") { Description = "SSD dampening λ (default 1)." };
    public static readonly Option<PassOrder?> PassOrder = new("--pass-order") { Description = "SalUn and RL: Sequential (Df then Dr each epoch, the default) or Shuffled (one mixed pass over both)." };

    public static void AddData(Command command, Option<string> data)
    {
        foreach (var option in new Option[] { data, Target, Regression, Subset, Validation, SubjectSize, Seed, Device })
            command.Options.Add(option);
    }

    public static void AddHyperparameters(Command command)
    {
        foreach (var option in new Option[] { Epochs, LearningRate, BatchSize, MaskRatio, Alpha, Lambda, PassOrder })
            command.Options.Add(option);
    }

    public static DataSource DataSourceOf(ParseResult result, Option<string> data) => new(
        result.GetValue(data)!, result.GetValue(Target), result.GetValue(Regression), result.GetValue(Subset),
        result.GetValue(Validation), result.GetValue(SubjectSize), result.GetValue(Seed));

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

    public static void WriteJson(string path, object value)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        File.WriteAllText(path, JsonSerializer.Serialize(value, Json));
    }
}
