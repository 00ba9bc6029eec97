using Hangfire;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using UnlearnService.Data;
using UnlearnService.Engine.Runtime;

namespace UnlearnService.Features.Health;

internal static class HealthEndpoints
{
    const string Ready = "ready";

    public static IHostApplicationBuilder AddHealth(this IHostApplicationBuilder builder)
    {
        builder.Services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: [Ready])
            .AddCheck<JobStorageHealthCheck>("jobs", tags: [Ready])
            .AddCheck<TorchHealthCheck>("torch", tags: [Ready]);
        return builder;
    }

    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/health").WithTags("Health").AllowAnonymous();
        group.MapGet("/live", GetLive).WithName("GetLiveness").WithSummary("The process is up.");
        group.MapGet("/ready", GetReady).WithName("GetReadiness")
            .WithSummary("The database, the job storage and TorchSharp all work; 503 with the failing checks otherwise.");
        return app;
    }

    static Ok<HealthResponse> GetLive() => TypedResults.Ok(new HealthResponse("Healthy", []));

    static async Task<Results<Ok<HealthResponse>, JsonHttpResult<HealthResponse>>> GetReady(
        HealthCheckService health, CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(c => c.Tags.Contains(Ready), cancellationToken);
        var response = new HealthResponse(
            report.Status.ToString(),
            report.Entries.Select(e => new HealthCheckResponse(e.Key, e.Value.Status.ToString(), e.Value.Description ?? e.Value.Exception?.Message)).ToList());
        return report.Status == HealthStatus.Healthy
            ? TypedResults.Ok(response)
            : TypedResults.Json(response, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}

/// <summary>Overall status and, for readiness, each check.</summary>
internal sealed record HealthResponse(string Status, IReadOnlyList<HealthCheckResponse> Checks);

internal sealed record HealthCheckResponse(string Name, string Status, string? Description);

internal sealed class DatabaseHealthCheck(UnlearnDbContext db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!await db.Database.CanConnectAsync(cancellationToken))
            return HealthCheckResult.Unhealthy("Cannot connect to the database.");
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        return pending.Count == 0
            ? HealthCheckResult.Healthy($"{db.Database.ProviderName}: schema up to date.")
            : HealthCheckResult.Unhealthy($"{pending.Count} migration(s) pending; run the migrate command.");
    }
}

internal sealed class JobStorageHealthCheck(JobStorage storage) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var servers = storage.GetMonitoringApi().Servers();
        return Task.FromResult(HealthCheckResult.Healthy($"{storage.GetType().Name}: {servers.Count} server(s)."));
    }
}

internal sealed class TorchHealthCheck : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var version = TorchRuntime.Version;
        return Task.FromResult(HealthCheckResult.Healthy($"libtorch {version}, CUDA {(TorchSharp.torch.cuda.is_available() ? "available" : "not available")}."));
    }
}
