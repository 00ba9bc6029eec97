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
/// the whole process (a service with it). A child that survives loading the archive and running it once on zeros shows
/// that this process can load it too: the same bytes take the same path through the importer. A child that dies of a
/// crash signal once it has started loading, or runs past the timeout, means the archive is refused. Programs that load
/// uploaded archives route <see cref="Command"/> to <see cref="RunChild"/>.
/// </summary>
public static partial class TorchScriptCheck
{
    /// <summary>The first argument that makes a program run <see cref="RunChild"/> with the rest.</summary>
    public const string Command = "check-torchscript";

    /// <summary>What the child prints once it is up and about to load: a death before it is not the archive's doing.</summary>
    const string LoadingMarker = "loading";

    /// <summary>Exit codes of a process killed by SIGILL, SIGABRT, SIGBUS, SIGFPE or SIGSEGV (128 + signal): a crash.</summary>
    static readonly int[] CrashExitCodes = [132, 134, 135, 136, 139];

    /// <summary>How much of the child's output is kept: an archive's code may print without end.</summary>
    const int OutputKept = 64 * 1024;

    /// <summary>
    /// The child's side: loads the archive at <c>args[0]</c> and runs it once on zeros of the input shape <c>args[1]</c>
    /// (e.g. <c>1x28x28</c>), within <c>args[2]</c> seconds. Exits 0 whenever the process survives, including when
    /// libtorch refuses the archive with an error the caller can catch (the caller's own load then reports it); 2 on
    /// malformed arguments; 124 past its deadline. It dies with its parent (Linux).
    /// </summary>
    public static int RunChild(IReadOnlyList<string> args)
    {
        if (args.Count != 3 || ParseShape(args[1]) is not { } shape || !int.TryParse(args[2], out var seconds) || seconds < 1)
        {
            Console.Error.WriteLine($"usage: {Command} ARCHIVE SHAPE SECONDS (e.g. model.pt 1x28x28 120)");
            return 2;
        }
        // A parent that is gone, or an archive that loops for ever, must not leave this process behind.
        if (OperatingSystem.IsLinux()) _ = SetParentDeathSignal(PrSetPdeathsig, SigKill);
        using var deadline = new Timer(_ => Environment.Exit(124), null, TimeSpan.FromSeconds(seconds), Timeout.InfiniteTimeSpan);
        Runtime.TorchRuntime.Initialize();
        Console.Out.WriteLine(LoadingMarker);
        Console.Out.Flush();
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

    const int PrSetPdeathsig = 1, SigKill = 9;

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "prctl")]
    private static partial int SetParentDeathSignal(int option, nuint signal);

    /// <summary>
    /// Runs <see cref="RunChild"/> for the archive at <paramref name="archivePath"/> in a child process started with
    /// <paramref name="program"/>, and returns when it survived. Cancelling kills the child.
    /// </summary>
    /// <exception cref="ModelFormatException">The child crashed loading or running the archive, or ran past <paramref name="timeout"/>.</exception>
    /// <exception cref="InvalidOperationException">The child could not start or died for another reason (not the archive's fault).</exception>
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
        // The child's own deadline comes a little after this one, so that this side's message is the one seen.
        start.ArgumentList.Add(((int)Math.Ceiling(timeout.TotalSeconds) + 5).ToString(System.Globalization.CultureInfo.InvariantCulture));
        // An abort must not write a dump the size of libtorch.
        start.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        Process child;
        try
        {
            child = Process.Start(start) ?? throw new InvalidOperationException($"Could not start '{program.FileName}' to check a TorchScript archive.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"Could not start '{program.FileName}' to check a TorchScript archive: {e.Message}", e);
        }
        using (child)
        {
            var output = ReadKeptAsync(child.StandardOutput);
            var errors = ReadKeptAsync(child.StandardError);
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
            var (stdout, stderr) = (await output, await errors);
            cancellationToken.ThrowIfCancellationRequested(); // e.g. Ctrl+C in a terminal reached the child too
            if (child.ExitCode == 0) return;
            if (CrashExitCodes.Contains(child.ExitCode) && stdout.Split('\n').Contains(LoadingMarker))
                throw new ModelFormatException($"Not a loadable TorchScript archive: libtorch aborted on it ({Reason(stderr)}).");
            throw new InvalidOperationException($"The TorchScript check exited with code {child.ExitCode}: {Printable(stderr.Trim(), 500)}");
        }
    }

    /// <summary>Reads a pipe to its end (so the child never blocks on it), keeping the first <see cref="OutputKept"/> characters.</summary>
    static async Task<string> ReadKeptAsync(StreamReader reader)
    {
        var kept = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
            kept.Append(buffer, 0, Math.Min(read, Math.Max(0, OutputKept - kept.Length)));
        return kept.ToString();
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
