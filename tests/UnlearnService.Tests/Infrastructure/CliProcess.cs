using System.Diagnostics;
using System.Reflection;

namespace UnlearnService.Tests.Infrastructure;

/// <summary>The `unlearn` command-line tool as a process, from its own build output.</summary>
public static class CliProcess
{
    static string Metadata(string key) =>
        typeof(CliProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    public static string RepositoryRoot => Path.GetFullPath(Metadata("RepositoryRoot"));

    public static Task<(int ExitCode, string Output)> RunAsync(params string[] args) =>
        RunAsync(new Dictionary<string, string>(), TimeSpan.FromSeconds(60), args);

    /// <summary>Runs the tool with extra environment variables, failing the test after <paramref name="limit"/>.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IReadOnlyDictionary<string, string> environment, TimeSpan limit, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Metadata("CliAssembly"));
        foreach (var arg in args) info.ArgumentList.Add(arg);
        foreach (var (name, value) in environment) info.Environment[name] = value;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
