using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

/// <summary>
/// The tamper-evident audit trail against the real service. The tamper tests play an attacker with superuser
/// access to PostgreSQL, the one party the append-only trigger does not stop: it switches triggers off for its
/// session (session_replication_role = replica) and rewrites the table; GET /v1/audit/verify must then name the
/// first event that is no longer what was written.
/// </summary>
public sealed class AuditTrailTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Verify_UntouchedChain_ReportsValidWithCheckpoints(bool postgres)
    {
        await using var service = await RunningService.StartAsync(postgres);
        using var admin = service.Admin();
        await service.NewTenantAsync("first", "audit:read");
        var first = await CheckpointAsync(admin);
        await service.NewTenantAsync("second", "audit:read");
        var second = await CheckpointAsync(admin);
        await service.NewTenantAsync("third", "audit:read");

        var result = await admin.GetFromJsonAsync<JsonElement>("/v1/audit/verify");

        Assert.True(result.GetProperty("valid").GetBoolean(), result.ToString());
        Assert.Equal(JsonValueKind.Null, result.GetProperty("firstBadSequence").ValueKind);
        // Ours and any the recurring job signed meanwhile (its schedule follows the clock): every stored one is verified.
        var stored = (await admin.GetFromJsonAsync<JsonElement>("/v1/audit/checkpoints?limit=100")).EnumerateArray().ToList();
        Assert.True(stored.Count >= 2);
        Assert.Equal(stored.Count, result.GetProperty("checkpointsVerified").GetInt32());
        Assert.True(second.GetProperty("treeSize").GetInt64() > first.GetProperty("treeSize").GetInt64());
        Assert.True(second.GetProperty("previousTreeSize").GetInt64() >= first.GetProperty("treeSize").GetInt64());
        var events = result.GetProperty("events").GetInt64();
        Assert.True(events > second.GetProperty("treeSize").GetInt64());
        // Every event the API lists carries its place in the chain, linked to the one before.
        var listed = (await admin.GetFromJsonAsync<JsonElement>("/v1/audit?pageSize=200")).GetProperty("items").EnumerateArray().ToList();
        Assert.All(listed, e => Assert.Equal(64, e.GetProperty("hash").GetString()!.Length));
        Assert.Equal(new string('0', 64), listed.Single(e => e.GetProperty("sequence").GetInt64() == 1).GetProperty("previousHash").GetString());
    }

    [Fact]
    public async Task Verify_WithoutAdminScope_Forbidden()
    {
        await using var service = await RunningService.StartAsync(postgres: false);
        var (_, key) = await service.NewTenantAsync("auditor", "audit:read");
        using var auditor = service.Client(key);

        Assert.Equal(HttpStatusCode.Forbidden, (await auditor.GetAsync("/v1/audit/verify")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await auditor.GetAsync("/v1/audit/checkpoints")).StatusCode);
    }

    public static TheoryData<string, string> Tampering => new()
    {
        { "changed", "EventChanged" },
        { "deleted", "MissingSequence" },
        { "reordered", "BrokenLink" },
        { "moved to another tenant", "EventChanged" },
        { "truncated", "MissingSequence" },
    };

    [Theory]
    [MemberData(nameof(Tampering))]
    public async Task Verify_RowRewrittenBySuperuserInPostgres_ReportsExactSequence(string tampering, string problem)
    {
        await using var service = await RunningService.StartAsync(postgres: true);
        using var admin = service.Admin();
        var (victim, _) = await service.NewTenantAsync("victim", "requests:read");
        await service.NewTenantAsync("bystander", "requests:read");
        await CheckpointAsync(admin);
        var db = service.Database!;
        var target = await db.ScalarAsync<long>($"SELECT sequence FROM audit_events WHERE action = 'tenant.created' AND entity_id = '{victim}'");
        var last = await db.ScalarAsync<long>("SELECT max(sequence) FROM audit_events");
        Assert.True(target > 1 && target < last, $"{target} of {last}");

        var (sql, expected) = tampering switch
        {
            "changed" => ($"UPDATE audit_events SET data_json = '{{\"name\":\"someone else\"}}' WHERE sequence = {target}", target),
            "deleted" => ($"DELETE FROM audit_events WHERE sequence = {target}", target),
            "moved to another tenant" => ($"UPDATE audit_events SET tenant_id = gen_random_uuid() WHERE sequence = {target}", target),
            // Swapping two events' places: the sequence number is hashed, so the first swapped place breaks.
            "reordered" => ($"UPDATE audit_events SET sequence = -1 WHERE sequence = {target}; " +
                            $"UPDATE audit_events SET sequence = {target} WHERE sequence = {target + 1}; " +
                            $"UPDATE audit_events SET sequence = {target + 1} WHERE sequence = -1", target),
            // Cutting the end leaves a valid chain; only the signed checkpoint shows that events are gone.
            "truncated" => ($"DELETE FROM audit_events WHERE sequence = {last}", last),
            _ => throw new ArgumentOutOfRangeException(nameof(tampering)),
        };
        await AsAttackerAsync(db.ConnectionString, sql);

        var result = await admin.GetFromJsonAsync<JsonElement>("/v1/audit/verify");

        Assert.False(result.GetProperty("valid").GetBoolean(), result.ToString());
        Assert.Equal(problem, result.GetProperty("problem").GetString());
        Assert.Equal(expected, result.GetProperty("firstBadSequence").GetInt64());
        Assert.Contains(expected.ToString(System.Globalization.CultureInfo.InvariantCulture), result.GetProperty("message").GetString(), StringComparison.Ordinal);
        // Nothing is signed over a broken log.
        Assert.Equal(HttpStatusCode.Conflict, (await admin.PostAsync("/v1/audit/checkpoints", null)).StatusCode);
    }

    [Fact]
    public async Task UpdateOrDelete_AuditRowOverServiceConnection_RejectedByTrigger()
    {
        await using var service = await RunningService.StartAsync(postgres: true);
        var connectionString = service.Database!.ConnectionString; // exactly what the service connects with

        foreach (var sql in new[]
        {
            "UPDATE audit_events SET action = 'nothing happened' WHERE sequence = 1",
            "DELETE FROM audit_events WHERE sequence = 1",
            "TRUNCATE audit_events",
            // Still empty here, so their row triggers would not fire; TRUNCATE's statement trigger does.
            "TRUNCATE audit_checkpoints",
            "TRUNCATE certificates",
        })
        {
            var error = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connectionString, sql));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
            Assert.Contains("evidence is append-only", error.MessageText, StringComparison.Ordinal);
        }
        Assert.Equal(1L, await service.Database.ScalarAsync<long>("SELECT count(*) FROM audit_events WHERE sequence = 1 AND action <> 'nothing happened'"));
    }

    [Fact]
    public async Task UpdateOrDelete_AuditRowInSqlite_RejectedByTrigger()
    {
        await using var service = await RunningService.StartAsync(postgres: false);
        var file = Path.Combine(service.Process.DataDirectory, "unlearn.db");

        foreach (var sql in new[] { "UPDATE audit_events SET action = 'nothing happened' WHERE sequence = 1", "DELETE FROM audit_events WHERE sequence = 1" })
        {
            await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file}");
            await connection.OpenAsync();
            await using var command = new Microsoft.Data.Sqlite.SqliteCommand(sql, connection);
            var error = await Assert.ThrowsAsync<Microsoft.Data.Sqlite.SqliteException>(() => command.ExecuteNonQueryAsync());
            Assert.Contains("evidence is append-only", error.Message, StringComparison.Ordinal);
        }
        using var admin = service.Admin();
        var result = await admin.GetFromJsonAsync<JsonElement>("/v1/audit/verify");
        Assert.True(result.GetProperty("valid").GetBoolean(), result.ToString());
    }

    [Fact]
    public async Task ServiceRoleScript_DedicatedRole_LacksUpdateAndDeleteOnEvidence()
    {
        await using var service = await RunningService.StartAsync(postgres: true);
        var connectionString = service.Database!.ConnectionString;
        await ExecuteAsync(connectionString, await File.ReadAllTextAsync(Path.Combine(CliProcess.RepositoryRoot, "deploy/postgres/service-role.sql")));

        // The role reads and appends, and is refused by privilege before any trigger runs.
        Assert.Equal(1L, await ScalarAsRoleAsync(connectionString, "SELECT count(*) FROM audit_events WHERE sequence = 1"));
        var error = await Assert.ThrowsAsync<PostgresException>(() =>
            ExecuteAsync(connectionString, "SET ROLE unlearn_service; UPDATE audit_events SET action = 'x' WHERE sequence = 1"));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        Assert.Contains("permission denied", error.MessageText, StringComparison.Ordinal);
    }

    static async Task<JsonElement> CheckpointAsync(HttpClient admin) =>
        await (await admin.PostAsync("/v1/audit/checkpoints", null)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();

    static async Task AsAttackerAsync(string connectionString, string sql) =>
        await ExecuteAsync(connectionString, $"BEGIN; SET LOCAL session_replication_role = replica; {sql}; COMMIT;");

    static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    static async Task<long> ScalarAsRoleAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var role = new NpgsqlCommand("SET ROLE unlearn_service", connection)) await role.ExecuteNonQueryAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
