using Microsoft.Extensions.Options;
using UnlearnService.Data;
using UnlearnService.Engine.Models;

namespace UnlearnService.Hosting;

internal static class CommandRunner
{
    /// <summary>Exit code when the configuration is invalid (the message names the setting).</summary>
    public const int ConfigurationError = 2;

    public static async Task<int> RunAsync(string[] args)
    {
        // The child process that proves an uploaded TorchScript archive cannot abort the service (TorchScriptCheck).
        if (args is [TorchScriptCheck.Command, .. var check]) return TorchScriptCheck.RunChild(check);
        WebApplication? app = null;
        try
        {
            app = ServiceApp.Build(args);
            if (args.Length > 0 && args[0] == "create-key")
                return await CreateKeyAsync(app, args[1..]);
            if (args.Length > 0 && args[0] == "migrate")
            {
                ValidateAll(app.Services);
                await DatabaseSetup.MigrateAsync(app.Services, CancellationToken.None);
                Console.WriteLine("Database migrations applied.");
                return 0;
            }
            await app.RunAsync();
            return 0;
        }
        catch (OptionsValidationException e)
        {
            await Console.Error.WriteLineAsync($"Invalid configuration: {string.Join(" ", e.Failures)}");
            return ConfigurationError;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (app is null) await Console.Error.WriteLineAsync($"The service could not start: {e}");
            else app.Services.GetRequiredService<ILogger<WebApplication>>().LogCritical(e, "The service stopped on an unexpected error");
            return 1;
        }
        finally
        {
            if (app is not null) await app.DisposeAsync();
        }
    }

    /// <summary>`create-key --tenant NAME --scopes a,b [--name LABEL]`: creates the tenant if needed and prints a new key once.</summary>
    static async Task<int> CreateKeyAsync(WebApplication app, string[] args)
    {
        string? Arg(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        var tenant = Arg("--tenant");
        var scopes = Arg("--scopes")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (tenant is null || scopes is not { Length: > 0 })
        {
            await Console.Error.WriteLineAsync("usage: create-key --tenant NAME --scopes models:write,requests:write,... [--name LABEL]");
            return ConfigurationError;
        }
        if (Features.Tenants.ApiKeyIssuer.InvalidScopes(scopes) is { } error)
        {
            await Console.Error.WriteLineAsync(error);
            return ConfigurationError;
        }
        ValidateAll(app.Services);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UnlearnDbContext>();
        var row = await Features.Tenants.ApiKeyIssuer.EnsureTenantAsync(db, tenant, "cli", CancellationToken.None);
        var (_, key) = await Features.Tenants.ApiKeyIssuer.IssueAsync(db, row.Id, Arg("--name") ?? "created by create-key", scopes, "cli", CancellationToken.None);
        Console.WriteLine(key);
        return 0;
    }

    static void ValidateAll(IServiceProvider services)
    {
        _ = services.GetRequiredService<IOptions<ServiceOptions>>().Value;
        _ = services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
        _ = services.GetRequiredService<IOptions<WorkerOptions>>().Value;
    }
}
