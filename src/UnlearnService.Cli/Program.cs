using System.CommandLine;
using UnlearnService.Cli;

var root = new RootCommand("unlearn: machine unlearning from the command line (SalUn, SSD and baselines).")
{
    InfoCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
