using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

/// <summary>
/// The production set-up from deploy/postgres/service-role.sql: migrations as the owner, the service as the
/// least-privilege role. A whole request must work under it, and the evidence tables must refuse changes to it.
/// </summary>
public sealed class RestrictedRoleTests
{
    [Fact]
    public async Task Service_AsRestrictedRole_CompletesAndCertifiesARequestButCannotChangeEvidence()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        var owner = new Dictionary<string, string>(RunningService.FastPipeline)
        {
            ["Database:Provider"] = "postgres",
            ["Database:ConnectionString"] = database.ConnectionString,
        };
        var key = await RunningService.MigrateAndCreateKeyAsync(owner);
        await using (var connection = new NpgsqlConnection(database.ConnectionString))
        {
            await connection.OpenAsync();
            var script = await File.ReadAllTextAsync(Path.Combine(CliProcess.RepositoryRoot, "deploy", "postgres", "service-role.sql"));
            await using var apply = new NpgsqlCommand(script, connection);
            await apply.ExecuteNonQueryAsync();
        }
        var restricted = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Username = "unlearn_service" }.ConnectionString;
        var service = new Dictionary<string, string>(owner) { ["Database:ConnectionString"] = restricted };

        await using (var process = ServiceProcess.Start(service))
        {
            await process.WaitUntilReadyAsync();
            using var client = new HttpClient { BaseAddress = process.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
            var dataset = await (await ApiCalls.UploadFashionAsync(client, 600, 200)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
            (await ApiCalls.RegisterModelAsync(client, dataset.GetProperty("id").GetGuid(), FashionMnist.TrainedModel(600, 200, epochs: 2, width: 8)))
                .EnsureSuccessStatusCode();
            var accepted = await client.PostAsJsonAsync("/v1/deletion-requests", new { subjectIds = new[] { "subject-4" }, method = "ssd" });
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            var location = accepted.Headers.Location!.ToString();
            var done = await ApiCalls.WaitForFinalAsync(client, location);
            Assert.True(done.GetProperty("status").GetString() is "completed" or "needs_retraining", done.ToString());

            // Evidence is written under the role: the certificate (if the verdict passed), a signed checkpoint, a clean chain.
            (await client.PostAsync("/v1/audit/checkpoints", null)).EnsureSuccessStatusCode();
            var verified = await client.GetFromJsonAsync<JsonElement>("/v1/audit/verify");
            Assert.True(verified.GetProperty("valid").GetBoolean(), verified.ToString());
            if (done.GetProperty("status").GetString() == "completed")
            {
                var deadline = DateTime.UtcNow.AddMinutes(1);
                while (DateTime.UtcNow < deadline && (await client.GetFromJsonAsync<JsonElement>(location)).GetProperty("models")[0].GetProperty("certificate").ValueKind != JsonValueKind.String)
                    await Task.Delay(250);
                var id = location.Split('/')[^1];
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/certificates/{id}")).StatusCode);
            }
        }

        // The role itself may not rewrite evidence, whatever the service would do.
        await using var asService = new NpgsqlConnection(restricted);
        await asService.OpenAsync();
        foreach (var sql in new[] { "UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_checkpoints", "DELETE FROM certificates", "DELETE FROM \"__EFMigrationsHistory\"" })
        {
            await using var command = new NpgsqlCommand(sql, asService);
            var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        }
    }
}
