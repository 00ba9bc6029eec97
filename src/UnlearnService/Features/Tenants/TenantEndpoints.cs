using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UnlearnService.Data;
using UnlearnService.Features.Audit;
using UnlearnService.Hosting;

namespace UnlearnService.Features.Tenants;

/// <summary>Creates tenants and API keys: for the admin endpoints, the `create-key` command and the first start.</summary>
internal static class ApiKeyIssuer
{
    /// <summary>Creates the tenant if needed and a key for it; returns the key, shown only now.</summary>
    public static async Task<(ApiKey Row, string Key)> IssueAsync(UnlearnDbContext db, Guid tenantId, string name, IEnumerable<string> scopes, string actor, CancellationToken cancellationToken)
    {
        var (key, prefix, hash) = ApiKeyAuthentication.NewKey();
        var row = new ApiKey
        {
            Id = Guid.NewGuid(), TenantId = tenantId, Name = name, Prefix = prefix, SecretHash = hash,
            Scopes = string.Join(' ', scopes.Distinct()), CreatedAt = DateTimeOffset.UtcNow,
        };
        db.ApiKeys.Add(row);
        db.Record(tenantId, actor, "api_key.created", "api_key", row.Id, new { row.Name, row.Scopes, row.Prefix });
        await db.SaveChangesAsync(cancellationToken);
        return (row, key);
    }

    public static async Task<Tenant> EnsureTenantAsync(UnlearnDbContext db, string name, string actor, CancellationToken cancellationToken)
    {
        var tenant = await db.Tenants.SingleOrDefaultAsync(t => t.Name == name, cancellationToken);
        if (tenant is not null) return tenant;
        tenant = new Tenant { Id = Guid.NewGuid(), Name = name, CreatedAt = DateTimeOffset.UtcNow };
        db.Tenants.Add(tenant);
        db.Record(tenant.Id, actor, "tenant.created", "tenant", tenant.Id, new { tenant.Name });
        await db.SaveChangesAsync(cancellationToken);
        return tenant;
    }

    public static string? InvalidScopes(IEnumerable<string> scopes)
    {
        var unknown = scopes.Where(s => !Scopes.All.Contains(s)).ToList();
        return unknown.Count == 0 ? null : $"Unknown scopes: {string.Join(", ", unknown)}. Known: {string.Join(", ", Scopes.All)}.";
    }
}

/// <summary>
/// On the first start of the embedded default (no tenant yet), creates tenant "default" with an admin key and
/// writes the key to a file readable only by this user, so a new user can call the API at once.
/// </summary>
internal sealed class AdminKeyBootstrap(IServiceProvider services, IOptions<ServiceOptions> service, IOptions<DatabaseOptions> database, ILogger<AdminKeyBootstrap> logger) : IHostedService
{
    public const string FileName = "admin-api-key";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (database.Value.ParsedProvider() != DatabaseProvider.Sqlite || service.Value.ParsedRole() == ServiceRole.Worker) return;
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UnlearnDbContext>();
        if (await db.Tenants.AnyAsync(cancellationToken)) return;
        var tenant = await ApiKeyIssuer.EnsureTenantAsync(db, "default", "system", cancellationToken);
        var (_, key) = await ApiKeyIssuer.IssueAsync(db, tenant.Id, "bootstrap admin", [Scopes.Admin, Scopes.Operator], "system", cancellationToken);
        var path = Path.GetFullPath(Path.Combine(service.Value.DataDirectory, FileName));
        await File.WriteAllTextAsync(path, key + Environment.NewLine, cancellationToken);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        logger.LogWarning("First start: created tenant 'default' and an admin API key, written to {Path}. Use it as 'Authorization: Bearer <key>'", path);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Admin operations: tenants (operator only) and API keys (a tenant's admin for its own tenant, the operator for any).</summary>
internal static class TenantEndpoints
{
    public static IEndpointRouteBuilder MapTenantEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/admin").WithTags("Admin").RequireAuthorization(Scopes.Admin);
        group.MapPost("/tenants", CreateTenant).WithName("CreateTenant").WithSummary("Operator: create a tenant.").RequireAuthorization(Scopes.Operator);
        group.MapGet("/tenants", ListTenants).WithName("ListTenants").WithSummary("Operator: list tenants.").RequireAuthorization(Scopes.Operator);
        group.MapPost("/tenants/{tenantId:guid}/api-keys", CreateKey).WithName("CreateApiKey")
            .WithSummary("Create an API key for a tenant; the key is in this response only.");
        group.MapGet("/tenants/{tenantId:guid}/api-keys", ListKeys).WithName("ListApiKeys").WithSummary("List a tenant's API keys (never the secrets).");
        group.MapPost("/api-keys/{keyId:guid}/revoke", RevokeKey).WithName("RevokeApiKey").WithSummary("Revoke an API key (effective within 30 s).");
        return app;
    }

    static async Task<Results<Created<TenantResponse>, ProblemHttpResult>> CreateTenant(CreateTenantBody body, UnlearnDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var exists = TypedResults.Problem(title: "Conflict", detail: $"A tenant named '{body.Name}' exists.", statusCode: StatusCodes.Status409Conflict);
        if (await db.Tenants.AnyAsync(t => t.Name == body.Name, cancellationToken)) return exists;
        Tenant tenant;
        try
        {
            tenant = await ApiKeyIssuer.EnsureTenantAsync(db, body.Name, Caller.From(user).Actor, cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Created by a concurrent call between the check and the insert (the unique name index decided).
            return exists;
        }
        return TypedResults.Created($"/v1/admin/tenants/{tenant.Id}", new TenantResponse(tenant.Id, tenant.Name, tenant.CreatedAt));
    }

    static async Task<Results<Ok<Page<TenantResponse>>, ValidationProblem>> ListTenants(UnlearnDbContext db, int page = 1, int pageSize = 50,
        CancellationToken cancellationToken = default)
    {
        if (Paging.Invalid(page, pageSize) is { } error) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["page"] = [error] });
        return TypedResults.Ok(await db.Tenants.AsNoTracking().OrderBy(t => t.Name).ToPageAsync(page, pageSize, t => new TenantResponse(t.Id, t.Name, t.CreatedAt), cancellationToken));
    }

    static async Task<Results<Created<CreatedApiKeyResponse>, NotFound, ValidationProblem, ProblemHttpResult>> CreateKey(Guid tenantId, CreateApiKeyBody body, UnlearnDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        if (!caller.MayActOn(tenantId) || !await db.Tenants.AnyAsync(t => t.Id == tenantId, cancellationToken)) return TypedResults.NotFound();
        if (ApiKeyIssuer.InvalidScopes(body.Scopes) is { } error)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["scopes"] = [error] });
        if (body.Scopes.Contains(Scopes.Operator) && !caller.Scopes.Contains(Scopes.Operator))
            return TypedResults.Problem(title: "Forbidden", detail: "Only an operator key can grant the operator scope.", statusCode: StatusCodes.Status403Forbidden);
        var (row, key) = await ApiKeyIssuer.IssueAsync(db, tenantId, body.Name, body.Scopes, Caller.From(user).Actor, cancellationToken);
        return TypedResults.Created($"/v1/admin/tenants/{tenantId}/api-keys", new CreatedApiKeyResponse(row.Id, row.Name, key, row.Scopes.Split(' '), row.CreatedAt));
    }

    static async Task<Results<Ok<List<ApiKeyResponse>>, NotFound>> ListKeys(Guid tenantId, UnlearnDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        if (!Caller.From(user).MayActOn(tenantId) || !await db.Tenants.AnyAsync(t => t.Id == tenantId, cancellationToken)) return TypedResults.NotFound();
        var keys = await db.ApiKeys.Where(k => k.TenantId == tenantId).OrderBy(k => k.CreatedAt).ToListAsync(cancellationToken);
        return TypedResults.Ok(keys.Select(k => new ApiKeyResponse(k.Id, k.Name, $"uk_{k.Prefix}_…", k.Scopes.Split(' '), k.CreatedAt, k.RevokedAt)).ToList());
    }

    static async Task<Results<NoContent, NotFound>> RevokeKey(Guid keyId, UnlearnDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var key = await db.ApiKeys.SingleOrDefaultAsync(k => k.Id == keyId, cancellationToken);
        if (key is null || !Caller.From(user).MayActOn(key.TenantId)) return TypedResults.NotFound();
        if (key.RevokedAt is null)
        {
            key.RevokedAt = DateTimeOffset.UtcNow;
            db.Record(key.TenantId, Caller.From(user).Actor, "api_key.revoked", "api_key", key.Id);
            await db.SaveChangesAsync(cancellationToken);
        }
        return TypedResults.NoContent();
    }
}

internal sealed record CreateTenantBody([property: Required, StringLength(200, MinimumLength = 1)] string Name);

internal sealed record CreateApiKeyBody([property: Required, StringLength(200, MinimumLength = 1)] string Name, [property: Required, MinLength(1)] string[] Scopes);

internal sealed record TenantResponse(Guid Id, string Name, DateTimeOffset CreatedAt);

internal sealed record CreatedApiKeyResponse(Guid Id, string Name, string Key, string[] Scopes, DateTimeOffset CreatedAt);

internal sealed record ApiKeyResponse(Guid Id, string Name, string Display, string[] Scopes, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);
