using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Hosting;

public sealed class StartupTests
{
    [Fact]
    public async Task Start_EmbeddedDefault_MigratesSqliteAndReportsReady()
    {
        await using var service = ServiceProcess.Start(new Dictionary<string, string>());

        var response = await service.WaitUntilReadyAsync();

        var health = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Healthy", health.GetProperty("status").GetString());
        var checks = health.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString());
        Assert.Equal(["database", "jobs", "torch"], checks.Keys.Order());
        Assert.All(checks.Values, status => Assert.Equal("Healthy", status));
        Assert.True(File.Exists(Path.Combine(service.DataDirectory, "unlearn.db")));

        var system = await service.Client.GetFromJsonAsync<JsonElement>("/v1/system");
        Assert.Equal("sqlite", system.GetProperty("database").GetString());
        Assert.Equal("all", system.GetProperty("role").GetString());
        Assert.StartsWith("2.10", system.GetProperty("libTorch").GetString());
    }

    [Fact]
    public async Task Start_PostgresAfterMigrateCommand_ReportsReady()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        var settings = new Dictionary<string, string>
        {
            ["Database:Provider"] = "postgres",
            ["Database:ConnectionString"] = database.ConnectionString,
        };

        var (exitCode, output) = await ServiceProcess.RunToExitAsync(settings, ["migrate"]);
        Assert.True(exitCode == 0, output);
        Assert.Equal(2L, await database.ScalarAsync<long>(
            "SELECT count(*) FROM \"__EFMigrationsHistory\" WHERE migration_id LIKE '%\\_Initial' OR migration_id LIKE '%\\_Evidence'"));
        Assert.Equal(0L, await database.ScalarAsync<long>("SELECT count(*) FROM tenants"));

        await using var service = ServiceProcess.Start(settings);
        var response = await service.WaitUntilReadyAsync();

        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("Npgsql", body, StringComparison.Ordinal);
        Assert.Contains("PostgreSql", body, StringComparison.Ordinal);
        // Hangfire keeps its own schema in the same database.
        Assert.Equal(1L, await database.ScalarAsync<long>("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'hangfire'"));
    }

    [Fact]
    public async Task Start_PostgresWithoutMigrations_ReadyAnswers503NamingPendingMigrations()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["Database:Provider"] = "postgres",
            ["Database:ConnectionString"] = database.ConnectionString,
        });
        await service.WaitUntilListeningAsync();

        var response = await service.Client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("migration(s) pending", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Service:Role", "banana", "Service:Role 'banana'")]
    [InlineData("Database:Provider", "oracle", "Database:Provider 'oracle'")]
    [InlineData("Database:Provider", "postgres", "Database:ConnectionString is required")]
    [InlineData("Workers:Devices:0", "gpu7", "Workers:Devices:0 'gpu7'")]
    [InlineData("Workers:DefaultQueueWorkers", "0", "Workers:DefaultQueueWorkers must be between 1 and 64")]
    [InlineData("Pipeline:MaxUtilityDropPoints", "-1", "Pipeline:MaxUtilityDropPoints must be between 0 and 100")]
    [InlineData("Pipeline:MembershipAlpha", "0", "Pipeline:MembershipAlpha must be between")]
    [InlineData("Evidence:RetiredKeyFiles:0", "/nonexistent/old-key.pem", "Evidence:RetiredKeyFiles:0 '/nonexistent/old-key.pem' does not exist")]
    [InlineData("Evidence:CreateKeyIfMissing", "false", "Evidence:KeyFile")]
    public async Task Start_InvalidSetting_ExitsWithMessageNamingIt(string key, string value, string expected)
    {
        var (exitCode, output) = await ServiceProcess.RunToExitAsync(new Dictionary<string, string> { [key] = value });

        Assert.Equal(2, exitCode);
        Assert.Contains("Invalid configuration: ", output, StringComparison.Ordinal);
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal); // one clear message, no stack trace
    }
}
