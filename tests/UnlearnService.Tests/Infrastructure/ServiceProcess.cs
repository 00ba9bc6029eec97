using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;

namespace UnlearnService.Tests.Infrastructure;

/// <summary>
/// The real service binary in its own process, on a free loopback port, with settings passed as environment
/// variables (the way an operator configures it). Output is captured for assertions and failure messages.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly StringBuilder _output = new();

    ServiceProcess(Process process, Uri baseAddress, string dataDirectory)
    {
        _process = process;
        BaseAddress = baseAddress;
        DataDirectory = dataDirectory;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri BaseAddress { get; }
    public string DataDirectory { get; }
    public HttpClient Client { get; }

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public static string ServiceAssemblyPath =>
        typeof(ServiceProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ServiceAssembly").Value!;

    /// <summary>Starts the service; <paramref name="settings"/> are configuration keys such as Database:Provider.</summary>
    public static ServiceProcess Start(IReadOnlyDictionary<string, string> settings, string[]? args = null, string? dataDirectory = null)
    {
        dataDirectory ??= TempFolder.Create("service");
        var baseAddress = new Uri($"http://127.0.0.1:{FreePort()}");
        var info = Psi(settings, args, dataDirectory, baseAddress);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var service = new ServiceProcess(process, baseAddress, dataDirectory);
        process.OutputDataReceived += (_, e) => service.Append(e.Data);
        process.ErrorDataReceived += (_, e) => service.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>Runs the binary to completion (e.g. the migrate command, or a start-up that must fail).</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(IReadOnlyDictionary<string, string> settings, string[]? args = null, TimeSpan? timeout = null)
    {
        await using var service = Start(settings, args);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(90));
        await service._process.WaitForExitAsync(cts.Token);
        service._process.WaitForExit(); // flushes the redirected streams
        return (service._process.ExitCode, service.Output);
    }

    static ProcessStartInfo Psi(IReadOnlyDictionary<string, string> settings, string[]? args, string dataDirectory, Uri baseAddress)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dataDirectory,
        };
        info.ArgumentList.Add(ServiceAssemblyPath);
        foreach (var arg in args ?? []) info.ArgumentList.Add(arg);
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Service__DataDirectory"] = dataDirectory;
        info.Environment["Kestrel__Endpoints__Http__Url"] = baseAddress.ToString();
        foreach (var (key, value) in settings) info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        return info;
    }

    void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    /// <summary>Polls /health/ready until it answers 200; fails with the service's output otherwise.</summary>
    public async Task<HttpResponseMessage> WaitUntilReadyAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        HttpResponseMessage? last = null;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"The service exited with code {_process.ExitCode}:\n{Output}");
            try
            {
                last = await Client.GetAsync("/health/ready");
                if (last.StatusCode == HttpStatusCode.OK) return last;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(250);
        }
        var body = last is null ? "(never answered)" : await last.Content.ReadAsStringAsync();
        throw new TimeoutException($"/health/ready did not answer 200: {body}\n{Output}");
    }

    /// <summary>Waits until the HTTP endpoint answers at all (any status).</summary>
    public async Task WaitUntilListeningAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"The service exited with code {_process.ExitCode}:\n{Output}");
            try
            {
                await Client.GetAsync("/health/live");
                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(250);
            }
        }
        throw new TimeoutException($"The service never listened:\n{Output}");
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
