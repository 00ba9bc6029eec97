using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using TorchSharp;
using UnlearnService.Engine.Models;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

/// <summary>A method that diverges is a failed attempt: the request needs retraining and the base version stays current.</summary>
public sealed class DivergenceTests
{
    [Fact]
    public async Task Deletion_SalUnDiverges_NeedsRetrainingWithAConvergedCriterionAndNoNewVersion()
    {
        await using var service = await RunningService.StartAsync(postgres: false);
        using var client = service.Admin();
        var datasetResponse = await ApiCalls.UploadFashionAsync(client, train: 300, test: 100);
        var datasetId = (await datasetResponse.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var weights = Path.Combine(TempFolder.Create("divergence"), "overconfident.safetensors");
        ScaleOutputLayer(FashionMnist.TrainedModel(300, 100), weights, 1e30f);
        var modelResponse = await ApiCalls.RegisterModelAsync(client, datasetId, weights);
        Assert.Equal(HttpStatusCode.Created, modelResponse.StatusCode);
        var modelId = (await modelResponse.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();

        var accepted = await client.PostAsJsonAsync("/v1/deletion-requests", new { subjectIds = new[] { "subject-1" }, method = "salun" });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var done = await ApiCalls.WaitForFinalAsync(client, accepted.Headers.Location!.ToString());

        Assert.True(done.GetProperty("status").GetString() == "needs_retraining", done.ToString());
        var outcome = done.GetProperty("models").EnumerateArray().Single();
        var criterion = outcome.GetProperty("verdict").GetProperty("criteria").EnumerateArray().Single();
        Assert.Equal("converged", criterion.GetProperty("name").GetString());
        Assert.Equal("Fail", criterion.GetProperty("outcome").GetString());
        Assert.Contains("diverged", criterion.GetProperty("explanation").GetString(), StringComparison.Ordinal);
        var attempt = outcome.GetProperty("attempts").EnumerateArray().Single();
        Assert.Equal("salun", attempt.GetProperty("method").GetString());
        Assert.Equal(JsonValueKind.Null, attempt.GetProperty("after").ValueKind);
        // Without a validation split there are no non-members to tune subject forgetting on: the run says so.
        Assert.Contains("validation split", attempt.GetProperty("notTuned").GetString(), StringComparison.Ordinal);
        Assert.True(outcome.GetProperty("metricsAfter").ValueKind is JsonValueKind.Null or JsonValueKind.Undefined, outcome.ToString());
        Assert.Equal(JsonValueKind.Object, outcome.GetProperty("metricsBefore").ValueKind);

        // Diverged once is diverged for good: no retries of the run, and version 1 stays the only, current one.
        var versions = (await client.GetFromJsonAsync<JsonElement>($"/v1/models/{modelId}/versions")).GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal("current", Assert.Single(versions).GetProperty("status").GetString());
        var audit = await client.GetFromJsonAsync<JsonElement>("/v1/audit?pageSize=200");
        var actions = audit.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
        Assert.Single(actions, a => a == "run.started");
        Assert.Contains("run.needs_retraining", actions);
    }

    /// <summary>
    /// The model with its output layer multiplied by <paramref name="factor"/>: finite weights and the same predictions,
    /// but gradients so large that SalUn's first step overflows.
    /// </summary>
    internal static void ScaleOutputLayer(string source, string destination, float factor)
    {
        using var loaded = ModelFile.Load(source);
        using (torch.no_grad())
            foreach (var (_, parameter) in loaded.Model.named_parameters().Where(p => p.name.StartsWith("fc2.", StringComparison.Ordinal)))
                parameter.mul_(factor);
        ModelFile.Save(destination, loaded.Model, loaded.Spec, loaded.Recipe);
    }
}
