using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

public sealed class WebhookTests
{
    [Fact]
    public async Task RequestCompleted_WebhookFailsOnce_IsRetriedAndSignedWithTheSecret()
    {
        // A real HTTP receiver on loopback: the first delivery gets a 500, the retry a 200.
        using var listener = new HttpListener();
        var port = FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        listener.Start();
        var received = new List<(string Body, string Signature, string Event, int Answered)>();
        var receiving = Task.Run(async () =>
        {
            while (received.Count < 2)
            {
                var context = await listener.GetContextAsync();
                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync();
                var status = received.Count == 0 ? 500 : 200;
                lock (received) received.Add((body, context.Request.Headers["Unlearn-Signature"] ?? "", context.Request.Headers["Unlearn-Event"] ?? "", status));
                context.Response.StatusCode = status;
                context.Response.Close();
            }
        });

        await using var service = await RunningService.StartAsync(postgres: false);
        using var client = service.Admin();
        var hook = await (await client.PostAsJsonAsync("/v1/webhooks", new { url = $"http://127.0.0.1:{port}/hook/", events = new[] { "request.completed" } }))
            .EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        var secret = hook.GetProperty("secret").GetString()!;
        var dataset = await (await ApiCalls.UploadFashionAsync(client, 300, 100)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        await ApiCalls.RegisterModelAsync(client, dataset.GetProperty("id").GetGuid(), FashionMnist.TrainedModel(300, 100, epochs: 2, width: 8));
        var accepted = await client.PostAsJsonAsync("/v1/deletion-requests", new { subjectIds = new[] { "subject-1" }, method = "ssd", externalReference = "WH-1" });
        var request = await ApiCalls.WaitForFinalAsync(client, accepted.Headers.Location!.ToString());
        Assert.Equal("completed", request.GetProperty("status").GetString());

        var finished = await Task.WhenAny(receiving, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.Same(receiving, finished);
        Assert.Equal([500, 200], received.Select(r => r.Answered));
        foreach (var (body, signature, type, _) in received)
        {
            Assert.Equal("request.completed", type);
            var parts = signature.Split(',').ToDictionary(p => p[..p.IndexOf('=')], p => p[(p.IndexOf('=') + 1)..]);
            var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{parts["t"]}.{body}")));
            Assert.Equal(expected, parts["v1"]);
            var payload = JsonDocument.Parse(body).RootElement;
            Assert.Equal(request.GetProperty("id").GetGuid(), payload.GetProperty("requestId").GetGuid());
            Assert.Equal("WH-1", payload.GetProperty("externalReference").GetString());
        }
    }

    internal static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
