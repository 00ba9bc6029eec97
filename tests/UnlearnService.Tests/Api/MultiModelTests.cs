using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

public sealed class MultiModelTests
{
    [Fact]
    public async Task SubjectDeletion_SubjectsSpreadOverTwoDatasets_EachModelForgetsItsOwnAndTheRequestCompletesOnce()
    {
        await using var service = await RunningService.StartAsync(postgres: false);
        using var client = service.Admin();
        // The same 600 images, grouped into 30 subjects of 20 in one dataset and 60 subjects of 10 in the other:
        // subject-5 is in both, subject-45 only in the second.
        var byTwenty = await (await ApiCalls.UploadFashionAsync(client, 600, 200, subjectSize: 20, name: "twenties")).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        var byTen = await (await ApiCalls.UploadFashionAsync(client, 600, 200, subjectSize: 10, name: "tens")).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        var weights = FashionMnist.TrainedModel(600, 200, epochs: 2, width: 8);
        async Task<Guid> Register(JsonElement dataset) => (await (await ApiCalls.RegisterModelAsync(client, dataset.GetProperty("id").GetGuid(), weights))
            .EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var onTwenties = await Register(byTwenty);
        var onTens = await Register(byTen);

        var accepted = await client.PostAsJsonAsync("/v1/deletion-requests", new { subjectIds = new[] { "subject-5", "subject-45" }, method = "ssd" });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var done = await ApiCalls.WaitForFinalAsync(client, accepted.Headers.Location!.ToString());

        Assert.True(done.GetProperty("status").GetString() is "completed" or "needs_retraining", done.ToString());
        var models = done.GetProperty("models").EnumerateArray().ToDictionary(m => m.GetProperty("modelId").GetGuid());
        Assert.Equal(new[] { onTens, onTwenties }.Order(), models.Keys.Order());
        // Each model's run forgot only what its own dataset holds of the two subjects: 20 samples either way.
        Assert.Equal(20, models[onTwenties].GetProperty("forgetCount").GetInt32());
        Assert.Equal(20, models[onTens].GetProperty("forgetCount").GetInt32());
        Assert.NotEqual(models[onTwenties].GetProperty("runId").GetGuid(), models[onTens].GetProperty("runId").GetGuid());
        var audit = await client.GetFromJsonAsync<JsonElement>($"/v1/audit?entityType=deletion_request&entityId={done.GetProperty("id").GetGuid()}");
        var finals = audit.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString())
            .Count(a => a is "request.completed" or "request.needs_retraining");
        Assert.Equal(1, finals);
    }
}
