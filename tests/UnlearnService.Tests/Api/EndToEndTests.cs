using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Models;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

public sealed class EndToEndTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SubjectDeletion_FashionSubset_CompletesWithPassingVerdictAndLoadableNewVersion(bool postgres)
    {
        await using var service = await RunningService.StartAsync(postgres);
        using var client = service.Admin();

        var datasetResponse = await ApiCalls.UploadFashionAsync(client, train: 1200, test: 300, subjectSize: 20);
        Assert.Equal(HttpStatusCode.Created, datasetResponse.StatusCode);
        var dataset = await datasetResponse.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(1500, dataset.GetProperty("sampleCount").GetInt32());
        Assert.Equal(60, dataset.GetProperty("subjectCount").GetInt32());
        var datasetId = dataset.GetProperty("id").GetGuid();

        var modelResponse = await ApiCalls.RegisterModelAsync(client, datasetId, FashionMnist.TrainedModel(1200, 300));
        Assert.Equal(HttpStatusCode.Created, modelResponse.StatusCode);
        var model = await modelResponse.Content.ReadFromJsonAsync<JsonElement>();
        var modelId = model.GetProperty("id").GetGuid();

        using var create = new HttpRequestMessage(HttpMethod.Post, "/v1/deletion-requests")
        {
            Content = JsonContent.Create(new { subjectIds = new[] { "subject-3", "subject-17" }, reason = "erasure request", legalBasis = "GDPR Art. 17", externalReference = "TICKET-1" }),
        };
        create.Headers.Add("Idempotency-Key", "e2e-1");
        var accepted = await client.SendAsync(create);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var location = accepted.Headers.Location!.ToString();

        var done = await ApiCalls.WaitForFinalAsync(client, location);
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        var outcome = done.GetProperty("models").EnumerateArray().Single();
        Assert.Equal(modelId, outcome.GetProperty("modelId").GetGuid());
        Assert.Equal(40, outcome.GetProperty("forgetCount").GetInt32());
        Assert.True(outcome.GetProperty("verdict").GetProperty("passed").GetBoolean(), outcome.GetProperty("verdict").ToString());
        Assert.Equal(40, outcome.GetProperty("metricsBefore").GetProperty("forgetCount").GetInt32());
        Assert.True(outcome.GetProperty("metricsAfter").GetProperty("testAccuracy").GetDouble() > 50);
        Assert.Equal(2, outcome.GetProperty("outputVersion").GetInt32());

        var lineage = await client.GetFromJsonAsync<JsonElement>($"/v1/models/{modelId}/versions");
        var versions = lineage.GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal([1, 2], versions.Select(v => v.GetProperty("number").GetInt32()));
        Assert.Equal(1, versions[1].GetProperty("parentNumber").GetInt32());
        Assert.Equal("current", versions[1].GetProperty("status").GetString());

        var weights = await client.GetAsync($"/v1/models/{modelId}/versions/2/weights");
        Assert.Equal(HttpStatusCode.OK, weights.StatusCode);
        await using (var stream = await weights.Content.ReadAsStreamAsync())
        {
            using var loaded = ModelFile.Load(stream);
            Assert.Equal(Architecture.SmallCnn, loaded.Spec.Architecture);
        }
        Assert.Equal(outcome.GetProperty("outputSha256").GetString(), weights.Headers.ETag!.Tag.Trim('"'));

        // The forgotten samples' features are gone from the service's storage; the audit trail saw it all.
        var after = await PollAsync(async () => await client.GetFromJsonAsync<JsonElement>($"/v1/datasets/{datasetId}"),
            d => d.GetProperty("forgottenCount").GetInt32() == 40);
        Assert.Equal(40, after.GetProperty("forgottenCount").GetInt32());
        var audit = await client.GetFromJsonAsync<JsonElement>("/v1/audit?pageSize=200");
        var actions = audit.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
        Assert.Contains("request.received", actions);
        Assert.Contains("run.completed", actions);
        Assert.Contains("model_version.created", actions);
        Assert.Contains("request.completed", actions);
        Assert.Contains("model_version.weights_downloaded", actions);
        Assert.Contains("dataset.samples_purged", actions);
    }

    static async Task<JsonElement> PollAsync(Func<Task<JsonElement>> get, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonElement last;
        do
        {
            last = await get();
            if (done(last)) return last;
            await Task.Delay(500);
        } while (DateTime.UtcNow < deadline);
        return last;
    }
}
