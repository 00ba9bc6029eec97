using Hangfire;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Options;
using UnlearnService.Hosting;

namespace UnlearnService.Jobs;

/// <summary>Hangfire is the execution engine; the database stays the source of truth.</summary>
internal static class JobsSetup
{
    /// <summary>Queue of unlearning runs: one worker per device.</summary>
    public const string GpuQueue = "gpu";

    /// <summary>Queue of light jobs: planning, webhooks, maintenance.</summary>
    public const string DefaultQueue = "default";

    /// <summary>
    /// The device of the server that runs a job: server names are "{machine}/{process}/{device}" and Hangfire's
    /// server ids append ":{guid}".
    /// </summary>
    public static string? DeviceOfServer(string serverId)
    {
        var name = serverId.LastIndexOf(':') is var colon and > 0 && Guid.TryParse(serverId[(colon + 1)..], out _) ? serverId[..colon] : serverId;
        var device = name[(name.LastIndexOf('/') + 1)..];
        return Engine.Runtime.DeviceName.IsValid(device) ? device : null;
    }

    public static IHostApplicationBuilder AddJobs(this IHostApplicationBuilder builder)
    {
        builder.Services.AddHangfire((sp, config) =>
        {
            config.SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings();
            var database = sp.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            if (database.ParsedProvider() == DatabaseProvider.Postgres)
            {
                config.UsePostgreSqlStorage(
                    storage => storage.UseNpgsqlConnection(database.ConnectionString),
                    new PostgreSqlStorageOptions
                    {
                        SchemaName = "hangfire",
                        PrepareSchemaIfNecessary = true,
                        // A crashed worker's job becomes visible again quickly; a long run keeps extending it.
                        UseSlidingInvisibilityTimeout = true,
                        InvisibilityTimeout = sp.GetRequiredService<IOptions<PipelineOptions>>().Value.StaleRunAfter,
                        QueuePollInterval = TimeSpan.FromSeconds(1),
                    });
            }
            else
            {
                config.UseInMemoryStorage();
            }
        });
        AddWorkerServers(builder);
        return builder;
    }

    /// <summary>
    /// In the worker and all roles: one Hangfire server per configured device, each with a single worker on the
    /// gpu queue (a device runs one unlearning run at a time), plus one server for the default queue. Read at
    /// registration; start-up validation of the same options stops the process before any server starts.
    /// </summary>
    static void AddWorkerServers(IHostApplicationBuilder builder)
    {
        var service = builder.Configuration.GetSection(ServiceOptions.Section).Get<ServiceOptions>() ?? new ServiceOptions();
        if (Enum.TryParse<ServiceRole>(service.Role, ignoreCase: true, out var role) && role == ServiceRole.Api) return;
        var workers = builder.Configuration.GetSection(WorkerOptions.Section).Get<WorkerOptions>() ?? new WorkerOptions();
        var prefix = $"{Environment.MachineName.ToLowerInvariant()}/{Environment.ProcessId}";
        foreach (var device in workers.Devices.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            builder.Services.AddHangfireServer(options =>
            {
                options.ServerName = $"{prefix}/{device.Trim().ToLowerInvariant()}";
                options.Queues = [GpuQueue];
                options.WorkerCount = 1;
                options.SchedulePollingInterval = TimeSpan.FromSeconds(1);
            });
        }
        builder.Services.AddHangfireServer(options =>
        {
            options.ServerName = $"{prefix}/default";
            options.Queues = [DefaultQueue];
            options.SchedulePollingInterval = TimeSpan.FromSeconds(1);
            options.WorkerCount = Math.Clamp(workers.DefaultQueueWorkers, 1, 64);
        });
    }
}
