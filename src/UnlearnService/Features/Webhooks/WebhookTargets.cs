using System.Net;
using System.Net.Sockets;

namespace UnlearnService.Features.Webhooks;

/// <summary>Webhooks:*: where deliveries may go.</summary>
internal sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>
    /// Allow loopback, private, link-local and other non-public addresses. Off by default: a tenant's webhook could
    /// otherwise make the service call its own admin ports, the cloud metadata endpoint or the internal network.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }
}

/// <summary>
/// Keeps deliveries on the public internet unless the operator allows otherwise: checked when a webhook is
/// registered (IP literals and localhost) and again on every connection, after DNS resolution, so a name that
/// later resolves to an internal address (DNS rebinding) is refused too. Redirects are never followed.
/// </summary>
internal static class WebhookTargets
{
    /// <summary>Loopback, private (RFC 1918, RFC 4193), link-local, carrier-grade NAT, unspecified, multicast or reserved.</summary>
    public static bool IsNonPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address)) return true;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] is 0 or 10 or 127 or >= 224
                || (b[0] == 100 && b[1] is >= 64 and < 128)
                || (b[0] == 169 && b[1] == 254)
                || (b[0] == 172 && b[1] is >= 16 and < 32)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 192 && b[1] == 0 && b[2] is 0 or 2)
                || (b[0] == 198 && b[1] is 18 or 19);
        }
        var v6 = address.GetAddressBytes();
        return address.Equals(IPAddress.IPv6Any) || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
            || (v6[0] & 0xFE) == 0xFC;
    }

    /// <summary>The reason a URL is refused at registration, or null. Host names are checked again when connecting.</summary>
    public static string? Refusal(Uri url, bool allowPrivate)
    {
        if (allowPrivate) return null;
        if (url.IsLoopback || url.Host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
            return "url points at this machine (loopback); set Webhooks:AllowPrivateNetworks to allow it.";
        return IPAddress.TryParse(url.Host.Trim('[', ']'), out var ip) && IsNonPublic(ip)
            ? $"url points at a non-public address ({ip}); set Webhooks:AllowPrivateNetworks to allow it."
            : null;
    }

    /// <summary>The delivery client's handler: no redirects, and connections only to allowed addresses.</summary>
    public static SocketsHttpHandler Handler(bool allowPrivate) => new()
    {
        AllowAutoRedirect = false,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
            var allowed = addresses.Where(a => allowPrivate || !IsNonPublic(a)).ToArray();
            if (allowed.Length == 0)
                throw new HttpRequestException($"Webhook host '{host}' resolves only to non-public addresses; set Webhooks:AllowPrivateNetworks to allow them.");
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
