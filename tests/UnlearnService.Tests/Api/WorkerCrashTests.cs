using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

public sealed class WorkerCrashTests
{
    [Fact]
    public async Task Run_WorkerKilledMidRun_AnotherWorkerCompletesItOnceWithOneVersion()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        var data = TempFolder.Create("crash");
        var settings = new Dictionary<string, string>(RunningService.FastPipeline)
        {
            ["Database:Provider"] = "postgres",
            ["Database:ConnectionString"] = database.ConnectionString,
            // What is tested is the takeover, not the verdict: SalUn drops this small model's TA by about 4 points.
            ["Pipeline:MaxUtilityDropPoints"] = "8",
        };
        var key = await RunningService.MigrateAndCreateKeyAsync(settings);

        string location;
        Guid modelId;
        await using (var first = ServiceProcess.Start(settings, dataDirectory: data))
        {
            await first.WaitUntilReadyAsync();
            using var client = new HttpClient { BaseAddress = first.BaseAddress };
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
            var dataset = await (await ApiCalls.UploadFashionAsync(client, 6000, 500)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
            // A 40-epoch recipe gives SalUn 6 epochs (15% of it); over 6,000 images, a run long enough to be killed half-way.
            var model = await (await ApiCalls.RegisterModelAsync(client, dataset.GetProperty("id").GetGuid(), FashionMnist.TrainedModel(6000, 500, epochs: 40, width: 8)))
                .EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
            modelId = model.GetProperty("id").GetGuid();
            var accepted = await client.PostAsJsonAsync("/v1/deletion-requests", new { subjectIds = new[] { "subject-5", "subject-9" }, method = "salun" });
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            location = accepted.Headers.Location!.ToString();

            // Wait until the run is well under way, then kill the process that runs it.
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (true)
            {
                var view = await client.GetFromJsonAsync<JsonElement>(location);
                var run = view.GetProperty("models")[0];
                if (run.GetProperty("runStatus").ValueKind == JsonValueKind.String && run.GetProperty("runProgress").GetDouble() > 0.15) break;
                Assert.True(DateTime.UtcNow < deadline, $"the run never got going: {view}");
                Assert.NotEqual("completed", view.GetProperty("status").GetString());
                await Task.Delay(200);
            }
        } // disposing kills the process tree: no graceful shutdown

        await using var second = ServiceProcess.Start(settings, dataDirectory: data);
        await second.WaitUntilReadyAsync();
        using var again = new HttpClient { BaseAddress = second.BaseAddress };
        again.DefaultRequestHeaders.Authorization = new("Bearer", key);

        var done = await ApiCalls.WaitForFinalAsync(again, location);

        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        var lineage = await again.GetFromJsonAsync<JsonElement>($"/v1/models/{modelId}/versions");
        Assert.Equal([1, 2], lineage.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("number").GetInt32()));
        Assert.Equal(1L, await database.ScalarAsync<long>("SELECT count(*) FROM unlearning_runs"));
        Assert.True(await database.ScalarAsync<int>("SELECT attempts FROM unlearning_runs") >= 2);
        Assert.Equal(1L, await database.ScalarAsync<long>("SELECT count(*) FROM model_versions WHERE produced_by_run_id IS NOT NULL"));
        Assert.Equal(1L, await database.ScalarAsync<long>("SELECT count(*) FROM audit_events WHERE action = 'run.completed'"));
    }
}
