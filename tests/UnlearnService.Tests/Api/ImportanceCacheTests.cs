using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Methods;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

/// <summary>SSD's cached importance over D: one that does not say how it was computed, or is gone, is not used, and is rebuilt.</summary>
public sealed class ImportanceCacheTests
{
    [Theory]
    [InlineData(false)] // written before importances recorded their batch size and kind
    [InlineData(true)] // lost from storage
    public async Task SsdRun_CacheUnusable_ComputesItsOwnAndTheCacheIsRebuilt(bool missing)
    {
        // No utility loss allowed and no tuning: SSD's defaults cost this model retain accuracy (TuningTests: 6 points
        // at α = 10), so the run fails its verdict and version 1 stays current, and its dropped cache is worth rebuilding.
        await using var service = await RunningService.StartAsync(postgres: false, new Dictionary<string, string>
        {
            ["Pipeline:MaxUtilityDropPoints"] = "0",
            ["Pipeline:TuneOnFailure"] = "false",
        });
        using var client = service.Admin();
        var datasetId = (await (await ApiCalls.UploadFashionAsync(client, train: 300, test: 100)).EnsureSuccessStatusCode()
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var modelId = (await (await ApiCalls.RegisterModelAsync(client, datasetId, FashionMnist.TrainedModel(300, 100))).EnsureSuccessStatusCode()
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var versionsUrl = $"/v1/models/{modelId}/versions";
        var registered = await ApiCalls.PollAsync(async () => await client.GetFromJsonAsync<JsonElement>(versionsUrl), CacheOfVersionOne);
        Assert.True(CacheOfVersionOne(registered), registered.ToString());

        // What a cache written before importances recorded their batch size and kind looks like: the same tensors, no metadata.
        var blob = Directory.GetFiles(service.Process.DataDirectory, "*.safetensors", SearchOption.AllDirectories)
            .Single(p => Path.GetFileName(Path.GetDirectoryName(p)) == "importance");
        using (var labelled = Read(blob))
        {
            Assert.Equal(64, labelled.BatchSize);
            Assert.False(labelled.LabelFree);
            SafeTensors.WriteStateDict(blob, labelled.Tensors);
        }
        Assert.Throws<SafeTensorsFormatException>(() => Read(blob));
        if (missing) File.Delete(blob);

        var accepted = await client.PostAsJsonAsync("/v1/deletion-requests", new { @class = 0, modelIds = new[] { modelId }, method = "ssd" });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var done = await ApiCalls.WaitForFinalAsync(client, accepted.Headers.Location!.ToString());

        Assert.True(done.GetProperty("status").GetString() == "needs_retraining", done.ToString());
        var attempt = done.GetProperty("models").EnumerateArray().Single().GetProperty("attempts").EnumerateArray().Single();
        Assert.Equal(0, attempt.GetProperty("details").GetProperty("importance_cached").GetDouble());
        // The run dropped the unusable cache and queued it again: version 1 is cached anew, with its batch size and kind.
        var versions = await ApiCalls.PollAsync(async () => await client.GetFromJsonAsync<JsonElement>(versionsUrl), CacheOfVersionOne);
        Assert.True(CacheOfVersionOne(versions), versions.ToString());
        using var rebuilt = Read(blob);
        Assert.Equal(64, rebuilt.BatchSize);
        Assert.False(rebuilt.LabelFree);
    }

    static SsdImportance Read(string path)
    {
        using var stream = File.OpenRead(path);
        return SsdImportance.Read(stream);
    }

    static bool CacheOfVersionOne(JsonElement list) =>
        list.GetProperty("versions").EnumerateArray().Single(v => v.GetProperty("number").GetInt32() == 1).GetProperty("importanceCached").GetBoolean();
}
