using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

public sealed class CancellationTests
{
    [Fact]
    public async Task Cancel_QueuedRequest_IsCancelledNeverRunsCannotBeCancelledTwiceAndIsAnnounced()
    {
        using var listener = new HttpListener();
        var port = WebhookTests.FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        listener.Start();
        var delivered = Task.Run(async () =>
        {
            var context = await listener.GetContextAsync();
            using var reader = new StreamReader(context.Request.InputStream);
            var body = await reader.ReadToEndAsync();
            context.Response.StatusCode = 200;
            context.Response.Close();
            return (Event: context.Request.Headers["Unlearn-Event"], Body: body);
        });
        // A long batch window keeps the request queued while the test cancels it.
        await using var service = await RunningService.StartAsync(postgres: false, new Dictionary<string, string> { ["Pipeline:BatchWindow"] = "00:00:20" });
        using var client = service.Admin();
        (await client.PostAsJsonAsync("/v1/webhooks", new { url = $"http://127.0.0.1:{port}/hook/", events = new[] { "request.cancelled" } })).EnsureSuccessStatusCode();
        var dataset = await (await ApiCalls.UploadFashionAsync(client, 300, 100)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        var model = await (await ApiCalls.RegisterModelAsync(client, dataset.GetProperty("id").GetGuid(), FashionMnist.TrainedModel(300, 100, epochs: 2, width: 8)))
            .EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        var accepted = await client.PostAsJsonAsync("/v1/deletion-requests", new { subjectIds = new[] { "subject-1" }, method = "ssd" });
        var location = accepted.Headers.Location!.ToString();
        Assert.Equal("queued", (await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());

        var cancelled = await client.PostAsync($"{location}/cancel", null);
        var again = await client.PostAsync($"{location}/cancel", null);

        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        Assert.Equal("cancelled", (await cancelled.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Same(delivered, await Task.WhenAny(delivered, Task.Delay(TimeSpan.FromSeconds(30))));
        var (type, body) = await delivered;
        Assert.Equal("request.cancelled", type);
        Assert.Equal(location.Split('/')[^1], JsonDocument.Parse(body).RootElement.GetProperty("requestId").GetString());
        var audit = await client.GetStringAsync($"/v1/audit?entityType=deletion_request&entityId={location.Split('/')[^1]}");
        Assert.Contains("\"request.cancelled\"", audit, StringComparison.Ordinal);
        // After the window the planner finds nothing to do: no run, no new version.
        await Task.Delay(TimeSpan.FromSeconds(25));
        var view = await client.GetFromJsonAsync<JsonElement>(location);
        Assert.Equal("cancelled", view.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, view.GetProperty("models")[0].GetProperty("runId").ValueKind);
        var lineage = await client.GetFromJsonAsync<JsonElement>($"/v1/models/{model.GetProperty("id").GetGuid()}/versions");
        Assert.Single(lineage.GetProperty("versions").EnumerateArray());
    }
}
