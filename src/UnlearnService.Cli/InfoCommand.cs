using System.CommandLine;
using TorchSharp;
using UnlearnService.Engine.Runtime;

namespace UnlearnService.Cli;

/// <summary>`unlearn info`: what this machine offers the engine.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Print the libtorch version and the devices this process can use.");
        command.SetAction(_ =>
        {
            Console.WriteLine($"libtorch  {TorchRuntime.Version}");
            Console.WriteLine($"threads   {torch.get_num_threads()}");
            var cuda = torch.cuda.is_available() ? torch.cuda.device_count() : 0;
            Console.WriteLine($"devices   cpu{string.Concat(Enumerable.Range(0, cuda).Select(i => $", cuda:{i}"))}");
            Console.WriteLine($"auto      {TorchRuntime.ResolveDevice("auto")}");
            return 0;
        });
        return command;
    }
}
