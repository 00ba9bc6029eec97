using System.CommandLine;
using UnlearnService.Cli;

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
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ArgumentException or IOException or UnlearnService.Engine.Models.ModelFormatException
    or UnlearnService.Engine.Formats.SafeTensorsFormatException or UnlearnService.Engine.Data.DatasetFormatException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
