using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using UnlearnService.Engine.Runtime;

namespace UnlearnService.Hosting;

/// <summary>What this process does: serve the API, run jobs, or both (the embedded default).</summary>
internal enum ServiceRole
{
    All,
    Api,
    Worker,
}

internal enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

/// <summary>Section "Service".</summary>
internal sealed class ServiceOptions
{
    public const string Section = "Service";

    /// <summary>api | worker | all.</summary>
    public string Role { get; set; } = "all";

    /// <summary>Root of the embedded default's files: SQLite database and blob folder.</summary>
    [Required(ErrorMessage = "Service:DataDirectory must be set.")]
    public string DataDirectory { get; set; } = "data";

    public ServiceRole ParsedRole() => Enum.Parse<ServiceRole>(Role, ignoreCase: true);
}

/// <summary>Section "Database". Hangfire's job storage follows the same provider and connection.</summary>
internal sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary>sqlite (embedded default) | postgres.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>Defaults to a SQLite file in the data directory; required for postgres.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Apply pending migrations at start-up. Null: yes for SQLite, no for PostgreSQL (run `migrate`).</summary>
    public bool? MigrateOnStartup { get; set; }

    public DatabaseProvider ParsedProvider() => Enum.Parse<DatabaseProvider>(Provider, ignoreCase: true);

    public bool ShouldMigrateOnStartup() => MigrateOnStartup ?? ParsedProvider() == DatabaseProvider.Sqlite;

    public string ResolveConnectionString(ServiceOptions service) =>
        ConnectionString ?? $"Data Source={Path.Combine(service.DataDirectory, "unlearn.db")}";
}

/// <summary>Section "Workers": one Hangfire server per device, each taking one unlearning run at a time.</summary>
internal sealed class WorkerOptions
{
    public const string Section = "Workers";

    /// <summary>Devices this worker binds, each auto | cpu | cuda | cuda:N (appsettings.json: cpu).</summary>
    /// <remarks>No default here: the binder appends configured items to an initialised list.</remarks>
    public List<string> Devices { get; set; } = [];

    /// <summary>Workers for light jobs (planning, webhooks) on the default queue.</summary>
    [Range(1, 64, ErrorMessage = "Workers:DefaultQueueWorkers must be between 1 and 64.")]
    public int DefaultQueueWorkers { get; set; } = 2;
}

/// <summary>Checks that need more than an attribute; every message names the setting it is about.</summary>
internal sealed class ServiceOptionsValidator : IValidateOptions<ServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, ServiceOptions options) =>
        Enum.TryParse<ServiceRole>(options.Role, ignoreCase: true, out _) && !int.TryParse(options.Role, out _)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"Service:Role '{options.Role}' is not one of api, worker, all.");
}

internal sealed class DatabaseOptionsValidator : IValidateOptions<DatabaseOptions>
{
    public ValidateOptionsResult Validate(string? name, DatabaseOptions options)
    {
        if (!Enum.TryParse<DatabaseProvider>(options.Provider, ignoreCase: true, out var provider) || int.TryParse(options.Provider, out _))
            return ValidateOptionsResult.Fail($"Database:Provider '{options.Provider}' is not one of sqlite, postgres.");
        if (provider == DatabaseProvider.Postgres && string.IsNullOrWhiteSpace(options.ConnectionString))
            return ValidateOptionsResult.Fail("Database:ConnectionString is required when Database:Provider is postgres.");
        return ValidateOptionsResult.Success;
    }
}

internal sealed class WorkerOptionsValidator : IValidateOptions<WorkerOptions>
{
    public ValidateOptionsResult Validate(string? name, WorkerOptions options)
    {
        if (options.Devices.Count == 0)
            return ValidateOptionsResult.Fail("Workers:Devices must name at least one device.");
        var failures = options.Devices
            .Select((device, index) => (device, index))
            .Where(d => !DeviceName.IsValid(d.device))
            .Select(d => $"Workers:Devices:{d.index} '{d.device}' is not one of auto, cpu, cuda, cuda:N.")
            .ToList();
        var duplicates = options.Devices.GroupBy(d => d.Trim(), StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0)
            failures.Add($"Workers:Devices lists {string.Join(", ", duplicates)} more than once.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
