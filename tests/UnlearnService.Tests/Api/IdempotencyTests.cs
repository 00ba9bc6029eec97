using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

public sealed class IdempotencyTests
{
    [Fact]
    public async Task Create_ConcurrentReplaysOnPostgres_CreateExactlyOneRequest()
    {
        await using var service = await RunningService.StartAsync(postgres: true);
        using var client = service.Admin();
        var dataset = await (await ApiCalls.UploadFashionAsync(client, 300, 100)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        await ApiCalls.RegisterModelAsync(client, dataset.GetProperty("id").GetGuid(), FashionMnist.TrainedModel(300, 100, epochs: 2, width: 8));
        var body = new { subjectIds = new[] { "subject-2" }, method = "ssd", externalReference = "T-42" };

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(async _ =>
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/deletion-requests") { Content = JsonContent.Create(body) };
            message.Headers.Add("Idempotency-Key", "same-key");
            return await client.SendAsync(message);
        }));

        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.Conflict, r.StatusCode.ToString()));
        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.Accepted);
        Assert.Single(responses.Where(r => r.StatusCode == HttpStatusCode.Accepted).Select(r => r.Headers.Location!.ToString()).Distinct());
        Assert.Equal(1L, await service.Database!.ScalarAsync<long>("SELECT count(*) FROM deletion_requests WHERE idempotency_key = 'same-key'"));
        var list = await client.GetFromJsonAsync<JsonElement>("/v1/deletion-requests");
        Assert.Equal(1, list.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task Create_ReplayAfterCompletion_ReturnsTheOriginalAndOtherBodyIs422()
    {
        await using var service = await RunningService.StartAsync(postgres: false);
        using var client = service.Admin();
        var dataset = await (await ApiCalls.UploadFashionAsync(client, 300, 100)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        await ApiCalls.RegisterModelAsync(client, dataset.GetProperty("id").GetGuid(), FashionMnist.TrainedModel(300, 100, epochs: 2, width: 8));

        async Task<HttpResponseMessage> Send(object body)
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/deletion-requests") { Content = JsonContent.Create(body) };
            message.Headers.Add("Idempotency-Key", "k-1");
            return await client.SendAsync(message);
        }

        var first = await Send(new { subjectIds = new[] { "subject-4" }, method = "ssd" });
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        await ApiCalls.WaitForFinalAsync(client, first.Headers.Location!.ToString());

        var replay = await Send(new { subjectIds = new[] { "subject-4" }, method = "ssd" });
        var other = await Send(new { subjectIds = new[] { "subject-5" }, method = "ssd" });

        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        Assert.Equal(first.Headers.Location, replay.Headers.Location);
        Assert.Equal("completed", (await replay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
        Assert.Contains("different body", await other.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, (await client.GetFromJsonAsync<JsonElement>("/v1/deletion-requests")).GetProperty("total").GetInt32());
    }
}
