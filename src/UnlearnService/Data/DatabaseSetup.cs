using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.Extensions.Options;
using UnlearnService.Hosting;

namespace UnlearnService.Data;

internal static class DatabaseSetup
{
    /// <summary>Registers the provider's context lazily, so that the validated options decide at first use.</summary>
    public static IHostApplicationBuilder AddDatabase(this IHostApplicationBuilder builder)
    {
        builder.Services.AddDbContext<SqliteUnlearnDbContext>((sp, options) =>
            ConfigureSqlite(options, ConnectionString(sp)));
        builder.Services.AddDbContext<PostgresUnlearnDbContext>((sp, options) =>
            ConfigurePostgres(options, ConnectionString(sp)));
        builder.Services.AddScoped<UnlearnDbContext>(sp =>
            sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.ParsedProvider() == DatabaseProvider.Postgres
                ? sp.GetRequiredService<PostgresUnlearnDbContext>()
                : sp.GetRequiredService<SqliteUnlearnDbContext>());
        builder.Services.AddHostedService<StartupMigrator>();
        return builder;
    }

    static string ConnectionString(IServiceProvider sp) =>
        sp.GetRequiredService<IOptions<DatabaseOptions>>().Value
            .ResolveConnectionString(sp.GetRequiredService<IOptions<ServiceOptions>>().Value);

    internal static void ConfigureSqlite(DbContextOptionsBuilder options, string connectionString)
    {
        var file = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connectionString).DataSource;
        var folder = Path.GetDirectoryName(Path.GetFullPath(file));
        if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        options.UseSqlite(connectionString).UseSnakeCaseNamingConvention();
    }

    internal static void ConfigurePostgres(DbContextOptionsBuilder options, string connectionString) =>
        options.UseNpgsql(connectionString).UseSnakeCaseNamingConvention();

    /// <summary>Applies pending migrations; the explicit `migrate` command and the embedded start-up call this.</summary>
    public static async Task MigrateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UnlearnDbContext>();
        await db.Database.MigrateAsync(cancellationToken);
    }
}

/// <summary>Applies migrations at start-up where configured (the embedded default), before jobs start.</summary>
internal sealed class StartupMigrator(IServiceProvider services, IOptions<DatabaseOptions> options, ILogger<StartupMigrator> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.ShouldMigrateOnStartup()) return;
        await DatabaseSetup.MigrateAsync(services, cancellationToken);
        logger.LogInformation("Database migrations applied ({Provider})", options.Value.Provider);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Used by `dotnet ef migrations add ... --context SqliteUnlearnDbContext`.</summary>
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteUnlearnDbContext>
{
    public SqliteUnlearnDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<SqliteUnlearnDbContext>();
        DatabaseSetup.ConfigureSqlite(options, "Data Source=design-time.db");
        return new SqliteUnlearnDbContext(options.Options);
    }
}

/// <summary>Used by `dotnet ef migrations add ... --context PostgresUnlearnDbContext`; needs no server.</summary>
internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresUnlearnDbContext>
{
    public PostgresUnlearnDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<PostgresUnlearnDbContext>();
        DatabaseSetup.ConfigurePostgres(options, "Host=localhost;Database=unlearn_design");
        return new PostgresUnlearnDbContext(options.Options);
    }
}
