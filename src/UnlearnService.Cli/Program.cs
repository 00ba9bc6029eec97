using System.CommandLine;
using UnlearnService.Cli;

// The child process that proves a TorchScript archive cannot abort this one (TorchScriptCheck).
if (args is [UnlearnService.Engine.Models.TorchScriptCheck.Command, .. var check]) return UnlearnService.Engine.Models.TorchScriptCheck.RunChild(check);

var root = new RootCommand("unlearn: machine unlearning from the command line (SalUn, SSD and baselines).")
{
    InfoCommand.Create(),
    TrainCommand.Create(),
    ForgetCommand.CreateForget(),
    ForgetCommand.CreateTune(),
    BenchCommand.Create(),
    VerifyCommand.CreateVerify(),
    VerifyCommand.CreateReport(),
};
try
{
    // Ctrl+C or SIGTERM cancels the token every command passes to the engine, which stops between steps
    // (CliOptions.Cancellable). After 10 s the process exits anyway.
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration
    {
        EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = TimeSpan.FromSeconds(10),
    });
}
catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or UnlearnService.Engine.Models.ModelFormatException
    or UnlearnService.Engine.Formats.SafeTensorsFormatException or UnlearnService.Engine.Data.DatasetFormatException
    or System.Text.Json.JsonException or System.Runtime.InteropServices.ExternalException or UnlearnService.Engine.Training.TrainingDivergedException
    or InvalidOperationException)
{
    // ExternalException: libtorch refused something (a TorchScript model that fails on the data, a device that is not there).
    // InvalidOperationException: something the work needs could not run (the TorchScript check's child process).
    // An ArgumentException's message ends in "(Parameter 'name')", a .NET name that means nothing on the command line.
    var message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;
    Console.Error.WriteLine($"error: {message.Split('\n')[0]}");
    // verify and report answer 0 valid, 1 invalid, 2 unusable input: an error here means the input was unusable.
    return args.FirstOrDefault() is "verify" or "report" ? 2 : 1;
}
