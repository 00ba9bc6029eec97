using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

/// <summary>A method whose defaults fail its verdict is tuned before the run escalates: the search and its choice are on record.</summary>
public sealed class TuningTests
{
    [Fact]
    public async Task ClassDeletion_SsdDefaultsFail_TunedSsdPassesWithItsSearchOnRecord()
    {
        // On this weak model (300 images, train accuracy ~88%) forgetting class 0 costs retain accuracy at every α: 6.0
        // points at the default α = 10, 9 and more at α ≤ 7, 4.5–5.2 at α ≥ 15. With a 5.5-point limit the defaults fail
        // and the search finds an α that passes. SSD draws nothing at random and never updates on Dr, so the search judges
        // it on all of Dr: neither outcome depends on the run's seed.
        await using var service = await RunningService.StartAsync(postgres: false, new Dictionary<string, string> { ["Pipeline:MaxUtilityDropPoints"] = "5.5" });
        using var client = service.Admin();
        var datasetId = (await (await ApiCalls.UploadFashionAsync(client, train: 300, test: 100)).EnsureSuccessStatusCode()
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var modelId = (await (await ApiCalls.RegisterModelAsync(client, datasetId, FashionMnist.TrainedModel(300, 100))).EnsureSuccessStatusCode()
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        // Registering the model queued SSD's importance over D for its version: the request then costs a pass over Df.
        var cached = await ApiCalls.PollAsync(async () => await client.GetFromJsonAsync<JsonElement>($"/v1/models/{modelId}/versions"),
            l => l.GetProperty("versions")[0].GetProperty("importanceCached").GetBoolean());
        Assert.True(cached.GetProperty("versions")[0].GetProperty("importanceCached").GetBoolean(), cached.ToString());

        var accepted = await client.PostAsJsonAsync("/v1/deletion-requests", new { @class = 0, modelIds = new[] { modelId }, method = "ssd" });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var done = await ApiCalls.WaitForFinalAsync(client, accepted.Headers.Location!.ToString());

        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        var outcome = done.GetProperty("models").EnumerateArray().Single();
        Assert.Equal(2, outcome.GetProperty("outputVersion").GetInt32());
        var attempts = outcome.GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal(2, attempts.Count);

        var defaults = attempts[0];
        Assert.Equal("ssd", defaults.GetProperty("method").GetString());
        Assert.Equal(10, defaults.GetProperty("settings").GetProperty("alpha").GetDouble());
        Assert.Equal(1, defaults.GetProperty("details").GetProperty("importance_cached").GetDouble());
        Assert.False(defaults.GetProperty("verdict").GetProperty("passed").GetBoolean(), defaults.ToString());
        Assert.Equal(JsonValueKind.Null, defaults.GetProperty("tuning").ValueKind);
        Assert.Equal(JsonValueKind.Null, defaults.GetProperty("notTuned").ValueKind);

        var tuned = attempts[1];
        Assert.Equal("ssd", tuned.GetProperty("method").GetString());
        Assert.True(tuned.GetProperty("verdict").GetProperty("passed").GetBoolean(), tuned.ToString());
        var search = tuned.GetProperty("tuning");
        var tried = search.GetProperty("candidates").EnumerateArray().Select(c => c.GetProperty("settings").GetProperty("alpha").GetDouble()).ToList();
        Assert.Equal([2, 5, 7, 15, 20, 25, 35, 50], tried); // the default grid without the α that already failed
        var alpha = tuned.GetProperty("settings").GetProperty("alpha").GetDouble();
        Assert.Contains(alpha, tried);
        Assert.True(alpha >= 15, search.ToString());
        Assert.True(search.GetProperty("chosenPassed").GetBoolean(), search.ToString());
        Assert.Equal(outcome.GetProperty("metricsBefore").GetProperty("retainCount").GetInt32(), search.GetProperty("holdoutCount").GetInt32());
        var passed = search.GetProperty("candidates").EnumerateArray()
            .ToDictionary(c => c.GetProperty("settings").GetProperty("alpha").GetDouble(), c => c.GetProperty("passed").GetBoolean());
        Assert.Equal([false, false, false, true, true, true, true, true], passed.Values);
        Assert.All(search.GetProperty("candidates").EnumerateArray(), c => Assert.True(c.GetProperty("weightChange").GetDouble() > 0));
        // The accepted verdict is the tuned run's, on the whole retain set and the test set.
        Assert.Equal(tuned.GetProperty("verdict").ToString(), outcome.GetProperty("verdict").ToString());

        var versions = (await client.GetFromJsonAsync<JsonElement>($"/v1/models/{modelId}/versions")).GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal("current", versions.Single(v => v.GetProperty("number").GetInt32() == 2).GetProperty("status").GetString());
    }

    [Fact]
    public async Task SubjectDeletion_EverySettingDiverges_SearchIsRecordedAndTheRequestNeedsRetraining()
    {
        // The dataset carries a validation split, so sample and subject forgetting can be tuned; an output layer scaled by
        // 1e30 makes SalUn diverge at every learning rate of the grid.
        await using var service = await RunningService.StartAsync(postgres: false);
        using var client = service.Admin();
        var dataset = await (await ApiCalls.UploadFashionAsync(client, train: 300, test: 100, validation: 200)).EnsureSuccessStatusCode()
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(200, dataset.GetProperty("validationCount").GetInt32());
        Assert.Equal(600, dataset.GetProperty("sampleCount").GetInt32());
        var weights = Path.Combine(TempFolder.Create("tuning"), "overconfident.safetensors");
        DivergenceTests.ScaleOutputLayer(FashionMnist.TrainedModel(300, 100), weights, 1e30f);
        var modelResponse = await ApiCalls.RegisterModelAsync(client, dataset.GetProperty("id").GetGuid(), weights);
        Assert.Equal(HttpStatusCode.Created, modelResponse.StatusCode);

        var accepted = await client.PostAsJsonAsync("/v1/deletion-requests", new { subjectIds = new[] { "subject-1" }, method = "salun" });
        var done = await ApiCalls.WaitForFinalAsync(client, accepted.Headers.Location!.ToString());

        Assert.True(done.GetProperty("status").GetString() == "needs_retraining", done.ToString());
        var attempts = done.GetProperty("models").EnumerateArray().Single().GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal(2, attempts.Count);
        Assert.Equal(0.013, attempts[0].GetProperty("settings").GetProperty("learningRate").GetDouble());
        Assert.Equal("Sequential", attempts[0].GetProperty("settings").GetProperty("passOrder").GetString());
        Assert.Equal(JsonValueKind.Null, attempts[0].GetProperty("notTuned").ValueKind);
        var search = attempts[1].GetProperty("tuning");
        Assert.Empty(search.GetProperty("candidates").EnumerateArray());
        // SalUn updates on Dr, so a tenth of it was held out to judge the candidates on (none got that far).
        var retained = done.GetProperty("models").EnumerateArray().Single().GetProperty("metricsBefore").GetProperty("retainCount").GetInt32();
        Assert.Equal((int)Math.Round(retained * 0.1), search.GetProperty("holdoutCount").GetInt32());
        var diverged = search.GetProperty("diverged").EnumerateArray().Select(c => c.GetProperty("settings")).ToList();
        Assert.Equal([0.001, 0.002, 0.003, 0.005, 0.008, 0.005, 0.008, 0.013, 0.02], diverged.Select(c => c.GetProperty("learningRate").GetDouble()));
        Assert.Equal([.. Enumerable.Repeat("Sequential", 5), .. Enumerable.Repeat("Shuffled", 4)], diverged.Select(c => c.GetProperty("passOrder").GetString()));
        var criterion = attempts[1].GetProperty("verdict").GetProperty("criteria").EnumerateArray().Single();
        Assert.Equal("converged", criterion.GetProperty("name").GetString());
        Assert.Contains("diverged", criterion.GetProperty("explanation").GetString(), StringComparison.Ordinal);
    }
}
