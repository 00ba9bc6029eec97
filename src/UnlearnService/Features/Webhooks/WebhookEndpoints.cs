using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hangfire;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UnlearnService.Data;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Requests;
using UnlearnService.Features.Tenants;
using UnlearnService.Jobs;

namespace UnlearnService.Features.Webhooks;

internal static class WebhookEvents
{
    public static readonly string[] All = ["request.completed", "request.failed", "request.needs_retraining", "request.cancelled"];
}

internal sealed record CreateWebhookBody([property: Required, StringLength(2000)] string Url, string[]? Events);

internal sealed record WebhookResponse(Guid Id, string Url, string[] Events, DateTimeOffset CreatedAt, string? Secret = null);

internal static class WebhookEndpoints
{
    public static IEndpointRouteBuilder MapWebhookEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/webhooks").WithTags("Webhooks").RequireAuthorization(Scopes.RequestsWrite);
        group.MapPost("/", Create).WithName("CreateWebhook")
            .WithSummary("Subscribe a URL to request events; the HMAC secret is in this response only. Deliveries carry 'Unlearn-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + \".\" + body)>'.");
        group.MapGet("/", List).WithName("ListWebhooks").WithSummary("The tenant's webhooks (without secrets).");
        group.MapDelete("/{id:guid}", Delete).WithName("DeleteWebhook").WithSummary("Unsubscribe.");
        return app;
    }

    static async Task<Results<Created<WebhookResponse>, ValidationProblem>> Create(CreateWebhookBody body, UnlearnDbContext db, IOptions<WebhookOptions> options,
        ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        if (!Uri.TryCreate(body.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["url"] = ["url must be an absolute http or https URL."] });
        if (WebhookTargets.Refusal(url, options.Value.AllowPrivateNetworks) is { } refusal)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["url"] = [refusal] });
        var events = body.Events is { Length: > 0 } ? body.Events.Distinct().ToArray() : WebhookEvents.All;
        var unknown = events.Except(WebhookEvents.All).ToList();
        if (unknown.Count > 0)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["events"] = [$"Unknown events {string.Join(", ", unknown)}; known: {string.Join(", ", WebhookEvents.All)}."] });
        var hook = new Webhook
        {
            Id = Guid.NewGuid(), TenantId = caller.TenantId, Url = url.ToString(), Events = string.Join(' ', events),
            Secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), CreatedAt = DateTimeOffset.UtcNow,
        };
        db.Webhooks.Add(hook);
        db.Record(caller.TenantId, caller.Actor, "webhook.created", "webhook", hook.Id, new { hook.Url, hook.Events });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Created($"/v1/webhooks/{hook.Id}", new WebhookResponse(hook.Id, hook.Url, events, hook.CreatedAt, hook.Secret));
    }

    static async Task<Results<Ok<Page<WebhookResponse>>, ValidationProblem>> List(UnlearnDbContext db, ClaimsPrincipal user, int page = 1, int pageSize = 50,
        CancellationToken cancellationToken = default)
    {
        if (Paging.Invalid(page, pageSize) is { } error) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["page"] = [error] });
        var tenant = Caller.From(user).TenantId;
        return TypedResults.Ok(await db.Webhooks.AsNoTracking().Where(w => w.TenantId == tenant).OrderBy(w => w.CreatedAt).ThenBy(w => w.Id)
            .ToPageAsync(page, pageSize, h => new WebhookResponse(h.Id, h.Url, h.Events.Split(' '), h.CreatedAt), cancellationToken));
    }

    static async Task<Results<NoContent, NotFound>> Delete(Guid id, UnlearnDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        var hook = await db.Webhooks.SingleOrDefaultAsync(w => w.Id == id && w.TenantId == caller.TenantId, cancellationToken);
        if (hook is null) return TypedResults.NotFound();
        db.Webhooks.Remove(hook);
        db.Record(caller.TenantId, caller.Actor, "webhook.deleted", "webhook", id);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.NoContent();
    }
}

/// <summary>Creates deliveries in the transaction that finishes a request, and sends them afterwards.</summary>
internal static class WebhookDispatch
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task QueueAsync(UnlearnDbContext db, DeletionRequest request, CancellationToken cancellationToken)
    {
        var type = $"request.{request.Status}";
        var hooks = await db.Webhooks.AsNoTracking().Where(w => w.TenantId == request.TenantId).ToListAsync(cancellationToken);
        foreach (var hook in hooks.Where(h => h.Events.Split(' ').Contains(type)))
        {
            var payload = JsonSerializer.Serialize(new
            {
                type, requestId = request.Id, status = request.Status, request.ExternalReference, request.CompletedAt,
                links = new { request = $"/v1/deletion-requests/{request.Id}" },
            }, Json);
            db.WebhookDeliveries.Add(new WebhookDelivery
            {
                Id = Guid.NewGuid(), WebhookId = hook.Id, TenantId = request.TenantId, EventType = type, PayloadJson = payload,
                Status = "pending", CreatedAt = DateTimeOffset.UtcNow,
            });
        }
    }

    public static async Task EnqueuePendingAsync(UnlearnDbContext db, IBackgroundJobClient jobs, Guid tenantId, CancellationToken cancellationToken)
    {
        var pending = await db.WebhookDeliveries.AsNoTracking().Where(d => d.TenantId == tenantId && d.Status == "pending" && d.Attempts == 0)
            .Select(d => d.Id).ToListAsync(cancellationToken);
        foreach (var id in pending) jobs.Enqueue<WebhookSender>(s => s.SendAsync(id, CancellationToken.None));
    }
}

/// <summary>POSTs one delivery, signed; on failure Hangfire retries it with growing delays, up to 8 attempts.</summary>
internal sealed class WebhookSender(UnlearnDbContext db, IHttpClientFactory http, ILogger<WebhookSender> logger)
{
    public const int MaxAttempts = 8;

    [Queue(JobsSetup.DefaultQueue)]
    [AutomaticRetry(Attempts = MaxAttempts - 1, DelaysInSeconds = [5, 30, 120, 600, 1800, 3600, 7200])]
    public async Task SendAsync(Guid deliveryId, CancellationToken cancellationToken)
    {
        var delivery = await db.WebhookDeliveries.SingleOrDefaultAsync(d => d.Id == deliveryId, cancellationToken);
        if (delivery is null || delivery.Status != "pending") return;
        var hook = await db.Webhooks.AsNoTracking().SingleOrDefaultAsync(w => w.Id == delivery.WebhookId, cancellationToken);
        if (hook is null) return;
        // Claim this attempt: when a delivery was enqueued twice (two follow-ups at once), only one job sends it.
        var attempt = delivery.Attempts;
        if (await db.WebhookDeliveries.Where(d => d.Id == deliveryId && d.Status == "pending" && d.Attempts == attempt)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.Attempts, attempt + 1), cancellationToken) == 0)
            return;

        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(hook.Secret), Encoding.UTF8.GetBytes($"{timestamp}.{delivery.PayloadJson}")));
        using var message = new HttpRequestMessage(HttpMethod.Post, hook.Url) { Content = new StringContent(delivery.PayloadJson, Encoding.UTF8, "application/json") };
        message.Headers.Add("Unlearn-Event", delivery.EventType);
        message.Headers.Add("Unlearn-Delivery", delivery.Id.ToString());
        message.Headers.Add("Unlearn-Signature", $"t={timestamp},v1={signature}");
        delivery.Attempts = attempt + 1;
        try
        {
            using var response = await http.CreateClient("webhooks").SendAsync(message, cancellationToken);
            delivery.LastStatusCode = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                delivery.Status = "delivered";
                delivery.DeliveredAt = DateTimeOffset.UtcNow;
                await db.SaveChangesAsync(cancellationToken);
                return;
            }
            delivery.LastError = $"HTTP {(int)response.StatusCode}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            delivery.LastError = e.Message;
        }
        if (delivery.Attempts >= MaxAttempts) delivery.Status = "failed";
        await db.SaveChangesAsync(cancellationToken);
        logger.LogWarning("Webhook delivery {DeliveryId} attempt {Attempt} failed: {Error}", delivery.Id, delivery.Attempts, delivery.LastError);
        if (delivery.Status == "pending") throw new InvalidOperationException($"Webhook delivery failed: {delivery.LastError}");
    }
}
