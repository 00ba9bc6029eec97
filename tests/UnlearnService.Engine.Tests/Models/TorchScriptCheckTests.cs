using UnlearnService.Engine.Models;

namespace UnlearnService.Engine.Tests.Models;

/// <summary>
/// The child-process check of untrusted TorchScript archives. The parent's side runs real processes: a shell standing
/// in for the child shows how each way of ending is read (the service and CLI tests run the real child on a real
/// archive that aborts libtorch).
/// </summary>
public sealed class TorchScriptCheckTests
{
    static readonly string Archive = Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny_mlp_torchscript.pt");

    static HostCommand Shell(string script) => new("/bin/sh", ["-c", script, "sh"]);

    [Fact]
    public void RunChild_ValidArchive_SurvivesWithExitCode0()
    {
        Assert.Equal(0, TorchScriptCheck.RunChild([Archive, "8", "60"]));
    }

    [Fact]
    public void RunChild_ArchiveLibtorchRefusesCleanly_SurvivesWithExitCode0()
    {
        var garbage = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(garbage, [1, 2, 3, 4]);

            // A refusal libtorch reports the ordinary way is caught in-process: the caller's own load reports it.
            Assert.Equal(0, TorchScriptCheck.RunChild([garbage, "8", "60"]));
            Assert.Equal(0, TorchScriptCheck.RunChild([Archive, "1x28x28", "60"])); // fails to run on that shape: survived too
        }
        finally
        {
            File.Delete(garbage);
        }
    }

    [Theory]
    [InlineData(null, "60")]
    [InlineData("0x28", "60")]
    [InlineData("28x", "60")]
    [InlineData("-1", "60")]
    [InlineData("8", "0")]
    [InlineData("8", null)]
    public void RunChild_MalformedArguments_Returns2(string? shape, string? seconds)
    {
        Assert.Equal(2, TorchScriptCheck.RunChild([Archive, .. new[] { shape, seconds }.OfType<string>()]));
    }

    [Fact]
    public async Task EnsureSafe_ChildSurvives_Returns()
    {
        await TorchScriptCheck.EnsureSafeAsync(Shell("test \"$1\" = check-torchscript && test -n \"$2\" && test \"$3\" = 1x28x28 && test \"$4\" = 35"),
            Archive, [1, 28, 28], TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task EnsureSafe_ChildAborts_ThrowsFormatErrorWithLibtorchsReason()
    {
        var script = "echo loading; printf 'terminate called after throwing an instance of x\\n  what():  \\nUnknown type name \\342\\200\\234T\\001\\n' >&2; kill -ABRT $$";

        var error = await Assert.ThrowsAsync<ModelFormatException>(() =>
            TorchScriptCheck.EnsureSafeAsync(Shell(script), Archive, [8], TimeSpan.FromSeconds(30)));

        Assert.Equal("Not a loadable TorchScript archive: libtorch aborted on it (Unknown type name “T).", error.Message);
    }

    [Theory]
    // Killed before it started loading: the runtime could not come up, not the archive's doing.
    [InlineData("kill -ABRT $$")]
    // Killed after, but not by a crash: SIGKILL is the OOM killer's or an operator's.
    [InlineData("echo loading; kill -KILL $$")]
    public async Task EnsureSafe_ChildDiesOtherwise_ThrowsInvalidOperationNotAFormatError(string script)
    {
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            TorchScriptCheck.EnsureSafeAsync(Shell(script), Archive, [8], TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task EnsureSafe_ChildWritesMegabytesToBothPipesThenSurvives_Returns()
    {
        // 40 MB in all, far beyond a pipe's buffer: a child whose pipes were not both drained would block till the timeout.
        await TorchScriptCheck.EnsureSafeAsync(Shell("echo loading; head -c 20000000 /dev/zero; head -c 20000000 /dev/zero >&2"),
            Archive, [8], TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task EnsureSafe_ProgramMissing_ThrowsInvalidOperation()
    {
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            TorchScriptCheck.EnsureSafeAsync(new HostCommand("/nonexistent/program", []), Archive, [8], TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task EnsureSafe_ChildRunsPastTheTimeout_IsKilledAndThrows()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<ModelFormatException>(() =>
            TorchScriptCheck.EnsureSafeAsync(Shell("sleep 60"), Archive, [8], TimeSpan.FromSeconds(1)));

        Assert.Contains("longer than 1 s", error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"waited {clock.Elapsed}");
    }

    [Fact]
    public async Task EnsureSafe_CheckItselfFails_ThrowsInvalidOperationNotAFormatError()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            TorchScriptCheck.EnsureSafeAsync(Shell("echo 'cannot start' >&2; exit 3"), Archive, [8], TimeSpan.FromSeconds(30)));

        Assert.Contains("code 3: cannot start", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnsureSafe_Cancelled_KillsTheChildAndThrowsCancellation()
    {
        var marker = Path.Combine(Path.GetTempPath(), $"check-survived-{Guid.NewGuid():N}");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            TorchScriptCheck.EnsureSafeAsync(Shell($"sleep 2; touch '{marker}'"), Archive, [8], TimeSpan.FromSeconds(30), cancel.Token));

        // A child left running would write the marker when its sleep ends.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(File.Exists(marker), "the child outlived the cancelled check");
    }

    [Fact]
    public void HostCommand_ProgramOtherThanThisProcess_RunsItsAssemblyUnderTheDotnetHost()
    {
        var command = HostCommand.Of(typeof(TorchScriptCheck).Assembly);

        Assert.Equal([typeof(TorchScriptCheck).Assembly.Location], command.Arguments);
        Assert.Equal("dotnet", Path.GetFileNameWithoutExtension(command.FileName));
    }
}
