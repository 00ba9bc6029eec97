using System.Diagnostics;
using System.Reflection;
using System.Text;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Models;

/// <summary>
/// How to start the running program again: its apphost, or the dotnet host with its assembly.
/// </summary>
/// <param name="FileName">The executable.</param>
/// <param name="Arguments">Arguments that come before the program's own (the assembly, under the dotnet host).</param>
public sealed record HostCommand(string FileName, IReadOnlyList<string> Arguments)
{
    /// <summary>
    /// The command that runs <paramref name="program"/>'s entry point: the current process's executable when it is that
    /// program's apphost, otherwise the dotnet host (this process's, else the SDK's DOTNET_HOST_PATH, else "dotnet")
    /// with the assembly. Test runners host the program's code in their own process, so this is what starts it anew.
    /// </summary>
    public static HostCommand Of(Assembly program)
    {
        var assembly = program.Location;
        if (string.IsNullOrEmpty(assembly)) throw new InvalidOperationException($"{program.GetName().Name} has no file to start a process from.");
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == Path.GetFileNameWithoutExtension(assembly))
            return new HostCommand(current, []);
        var dotnet = current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet"
            ? current
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        return new HostCommand(dotnet, [assembly]);
    }
}

/// <summary>
/// Loads a TorchScript archive from an untrusted source in a child process before this process loads it.
/// libtorch reports errors in an archive's code (an unknown type, a syntax error) with <c>torch::jit::ErrorReport</c>,
/// which TorchSharp 0.107's native layer does not catch: the C++ exception reaches .NET's frames and the runtime aborts
/// the whole process (a service with it). A child that survives loading the archive and running it once proves that
/// this process can do the same: the same bytes take the same path. A child that dies, or runs past the timeout, means
/// the archive is refused. Programs that load uploaded archives route <see cref="Command"/> to <see cref="RunChild"/>.
/// </summary>
public static class TorchScriptCheck
{
    /// <summary>The first argument that makes a program run <see cref="RunChild"/> with the rest.</summary>
    public const string Command = "check-torchscript";

    /// <summary>
    /// The child's side: loads the archive at <c>args[0]</c> and runs it once on zeros of the input shape <c>args[1]</c>
    /// (e.g. <c>1x28x28</c>). Exits 0 whenever the process survives, including when libtorch refuses the archive
    /// with an error the caller can catch (the caller's own load then reports it); 2 on malformed arguments.
    /// </summary>
    public static int RunChild(IReadOnlyList<string> args)
    {
        if (args.Count != 2 || ParseShape(args[1]) is not { } shape)
        {
            Console.Error.WriteLine($"usage: {Command} ARCHIVE SHAPE (e.g. 1x28x28)");
            return 2;
        }
        try
        {
            using var model = TorchScriptModel.Load(args[0]);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            model.eval();
            model.forward(zeros([1, .. shape]));
        }
        catch (Exception e)
        {
            // Survived: whatever this was, a catchable error is the caller's to report.
            Console.Error.WriteLine($"survived: {e.GetType().Name}: {e.Message.Split('\n', 2)[0]}");
        }
        return 0;
    }

    /// <summary>
    /// Runs <see cref="RunChild"/> for the archive at <paramref name="archivePath"/> in a child process started with
    /// <paramref name="program"/>, and returns when it survived.
    /// </summary>
    /// <exception cref="ModelFormatException">The child died loading or running the archive, or ran past <paramref name="timeout"/>.</exception>
    /// <exception cref="InvalidOperationException">The child could not run at all (not the archive's fault).</exception>
    public static async Task EnsureSafeAsync(HostCommand program, string archivePath, IReadOnlyList<long> inputShape, TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(program.FileName)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var argument in program.Arguments) start.ArgumentList.Add(argument);
        start.ArgumentList.Add(Command);
        start.ArgumentList.Add(Path.GetFullPath(archivePath));
        start.ArgumentList.Add(string.Join('x', inputShape));
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"Could not start '{program.FileName}' to check a TorchScript archive.");
        var errors = child.StandardError.ReadToEndAsync(CancellationToken.None);
        var output = child.StandardOutput.ReadToEndAsync(CancellationToken.None);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await child.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            throw new ModelFormatException($"Loading the TorchScript archive and running it once took longer than {timeout.TotalSeconds:0.#} s.");
        }
        var stderr = await errors;
        await output;
        // 128 + N: the child died of signal N (libtorch's abort is SIGABRT, 134); anything else is the check's own failure.
        if (child.ExitCode == 0) return;
        if (child.ExitCode > 128)
            throw new ModelFormatException($"Not a loadable TorchScript archive: libtorch aborted on it ({Reason(stderr)}).");
        throw new InvalidOperationException($"The TorchScript check exited with code {child.ExitCode}: {Printable(stderr.Trim(), 500)}");
    }

    static long[]? ParseShape(string text)
    {
        var parts = text.Split('x');
        var shape = new long[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], out shape[i]) || shape[i] < 1 || shape[i] > 1 << 20) return null;
        return shape;
    }

    /// <summary>What libtorch said before aborting: the first line of the exception's text, else the abort line.</summary>
    static string Reason(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var what = Array.FindIndex(lines, l => l.StartsWith("what():", StringComparison.Ordinal));
        var reason = what < 0 ? lines.FirstOrDefault() ?? "no message"
            : lines[what]["what():".Length..].Trim() is { Length: > 0 } inline ? inline
            : what + 1 < lines.Length ? lines[what + 1] : "no message";
        return Printable(reason, 300);
    }

    /// <summary>At most <paramref name="max"/> characters, control and replacement characters dropped: archive text is untrusted.</summary>
    static string Printable(string text, int max)
    {
        var clean = new StringBuilder(Math.Min(text.Length, max));
        foreach (var c in text)
        {
            if (clean.Length == max) break;
            if (!char.IsControl(c) && c != '\uFFFD') clean.Append(c);
        }
        return clean.ToString();
    }
}
