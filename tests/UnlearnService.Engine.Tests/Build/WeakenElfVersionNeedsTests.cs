using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace UnlearnService.Engine.Tests.Build;

/// <summary>Runs the build's MSBuild task for real (dotnet msbuild) on the untouched library from the package cache.</summary>
public sealed class WeakenElfVersionNeedsTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("weaken-elf-").FullName;

    static string Metadata(string key) =>
        typeof(WeakenElfVersionNeedsTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    string CopyOriginal()
    {
        var copy = Path.Combine(_folder, "libLibTorchSharp.so");
        File.Copy(Metadata("LibTorchSharpOriginal"), copy, overwrite: true);
        return copy;
    }

    string FakeHostLibrary(bool hasVersion)
    {
        var path = Path.Combine(_folder, hasVersion ? "new-libstdc++.so.6" : "old-libstdc++.so.6");
        var versions = hasVersion ? "GLIBCXX_3.4.31\0GLIBCXX_3.4.32\0GLIBCXX_3.4.33\0" : "GLIBCXX_3.4.30\0GLIBCXX_3.4.31\0";
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("\x7f" + "ELF fake\0" + versions));
        return path;
    }

    (int ExitCode, string Output) RunTask(string file, string mode, string host)
    {
        var project = Path.Combine(_folder, "run.proj");
        File.WriteAllText(project, $"""
            <Project>
              <Import Project="{Path.Combine(Metadata("RepoRoot"), "build", "LibTorchSharp.targets")}" />
              <Target Name="Run">
                <WeakenElfVersionNeeds Files="{file}" Versions="GLIBCXX_3.4.32" Mode="{mode}" HostLibStdCxx="{host}" />
              </Target>
            </Project>
            """);
        var info = new ProcessStartInfo("dotnet", ["msbuild", project, "-t:Run", "-nologo", "-v:n", "-nodeReuse:false"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }

    [Fact]
    public void Execute_HostLacksVersion_SetsOnlyThatWeakFlag()
    {
        var file = CopyOriginal();
        var before = File.ReadAllBytes(file);

        var (exitCode, output) = RunTask(file, "auto", FakeHostLibrary(hasVersion: false));

        Assert.True(exitCode == 0, output);
        Assert.Contains("Marked GLIBCXX_3.4.32 weak", output, StringComparison.Ordinal);
        var after = File.ReadAllBytes(file);
        Assert.Equal(before.Length, after.Length);
        var changed = Enumerable.Range(0, before.Length).Where(i => before[i] != after[i]).ToList();
        var offset = Assert.Single(changed); // vna_flags of that one entry, nothing else
        Assert.Equal(0x2, after[offset] & 0x2);
        Assert.Equal(0, before[offset] & 0x2);
    }

    [Fact]
    public void Execute_RunTwice_SecondRunChangesNothing()
    {
        var file = CopyOriginal();
        var host = FakeHostLibrary(hasVersion: false);
        Assert.Equal(0, RunTask(file, "auto", host).ExitCode);
        var once = File.ReadAllBytes(file);

        var (exitCode, output) = RunTask(file, "auto", host);

        Assert.True(exitCode == 0, output);
        Assert.DoesNotContain("Marked", output, StringComparison.Ordinal);
        Assert.Equal(once, File.ReadAllBytes(file));
    }

    [Fact]
    public void Execute_HostHasVersion_LeavesFileUntouched()
    {
        var file = CopyOriginal();
        var before = File.ReadAllBytes(file);

        var (exitCode, output) = RunTask(file, "auto", FakeHostLibrary(hasVersion: true));

        Assert.True(exitCode == 0, output);
        Assert.Equal(before, File.ReadAllBytes(file));
    }

    [Fact]
    public void Execute_NotAnElfFile_FailsTheBuildWithReason()
    {
        var file = Path.Combine(_folder, "libLibTorchSharp.so");
        File.WriteAllText(file, "not a shared library");

        var (exitCode, output) = RunTask(file, "true", "");

        Assert.NotEqual(0, exitCode);
        Assert.Contains("not an ELF file", output, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
