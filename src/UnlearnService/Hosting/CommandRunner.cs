using Microsoft.Extensions.Options;
using UnlearnService.Data;

namespace UnlearnService.Hosting;

internal static class CommandRunner
{
    /// <summary>Exit code when the configuration is invalid (the message names the setting).</summary>
    public const int ConfigurationError = 2;

    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication? app = null;
        try
        {
            app = ServiceApp.Build(args);
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

    static void ValidateAll(IServiceProvider services)
    {
        _ = services.GetRequiredService<IOptions<ServiceOptions>>().Value;
        _ = services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
        _ = services.GetRequiredService<IOptions<WorkerOptions>>().Value;
    }
}
