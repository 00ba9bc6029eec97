using System.Net;
using System.Net.Sockets;
using UnlearnService.Features.Webhooks;

namespace UnlearnService.Tests.Api;

/// <summary>Where webhook deliveries may go: public addresses only, unless the operator allows private networks.</summary>
public sealed class WebhookTargetTests
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.8.9.10", true)]
    [InlineData("10.0.0.5", true)]
    [InlineData("172.16.0.1", true)]
    [InlineData("172.31.255.255", true)]
    [InlineData("192.168.1.1", true)]
    [InlineData("169.254.169.254", true)]
    [InlineData("100.64.0.1", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("224.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("fe80::1", true)]
    [InlineData("fd00::1", true)]
    [InlineData("::ffff:10.0.0.1", true)]
    [InlineData("8.8.8.8", false)]
    [InlineData("172.32.0.1", false)]
    [InlineData("100.128.0.1", false)]
    [InlineData("2001:4860:4860::8888", false)]
    public void IsNonPublic_ClassifiesAddresses(string address, bool nonPublic) =>
        Assert.Equal(nonPublic, WebhookTargets.IsNonPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("http://127.0.0.1:9/hook")]
    [InlineData("http://localhost:8080/")]
    [InlineData("http://api.localhost/")]
    [InlineData("http://[::1]/")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("https://10.1.2.3/hook")]
    public void Refusal_NonPublicTarget_IsRefusedUnlessAllowed(string url)
    {
        Assert.NotNull(WebhookTargets.Refusal(new Uri(url), allowPrivate: false));
        Assert.Null(WebhookTargets.Refusal(new Uri(url), allowPrivate: true));
    }

    [Fact]
    public void Refusal_PublicHostName_IsLeftToTheConnectionCheck() =>
        Assert.Null(WebhookTargets.Refusal(new Uri("https://hooks.example.com/unlearn"), allowPrivate: false));

    [Fact]
    public async Task Handler_HostResolvingToLoopback_RefusesToConnectAndFollowsNoRedirect()
    {
        // A real listener on loopback, reached through a host name (what registration cannot see through).
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var refusing = new HttpClient(WebhookTargets.Handler(allowPrivate: false));
        using var allowing = new HttpClient(WebhookTargets.Handler(allowPrivate: true));

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => refusing.GetAsync(new Uri($"http://localhost:{port}/")));
        Assert.Contains("non-public", error.Message, StringComparison.Ordinal);
        Assert.False(listener.Pending());

        // Allowed, the same call connects; the listener answers a redirect, which is returned, not followed.
        var answering = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            using var stream = client.GetStream();
            var buffer = new byte[4096];
            _ = await stream.ReadAsync(buffer);
            await stream.WriteAsync("HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
        });
        using var response = await allowing.GetAsync(new Uri($"http://localhost:{port}/"));
        await answering;
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
    }
}
