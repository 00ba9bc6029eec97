using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using UnlearnService.Data;

namespace UnlearnService.Features.Tenants;

/// <summary>
/// The scopes an API key can hold. admin implies every scope of its own tenant and manages that tenant's keys;
/// operator is the service operator's: every tenant, the global audit chain and the job dashboard. admin never
/// implies operator, so one tenant's admin cannot reach another tenant.
/// </summary>
internal static class Scopes
{
    public const string ModelsWrite = "models:write";
    public const string ModelsRead = "models:read";
    public const string RequestsWrite = "requests:write";
    public const string RequestsRead = "requests:read";
    public const string CertificatesRead = "certificates:read";
    public const string AuditRead = "audit:read";
    public const string Admin = "admin";
    public const string Operator = "operator";

    /// <summary>The scopes within one tenant (what admin implies).</summary>
    public static readonly string[] OfTenant = [ModelsWrite, ModelsRead, RequestsWrite, RequestsRead, CertificatesRead, AuditRead, Admin];

    public static readonly string[] All = [.. OfTenant, Operator];
}

/// <summary>Who is calling: their tenant, key and scopes (from the validated API key).</summary>
internal sealed record Caller(Guid TenantId, Guid KeyId, IReadOnlySet<string> Scopes)
{
    public string Actor => $"key:{KeyId}";

    /// <summary>The service operator may act on any tenant; everyone else only on their own.</summary>
    public bool MayActOn(Guid tenantId) => tenantId == TenantId || Scopes.Contains(Tenants.Scopes.Operator);

    public static Caller From(ClaimsPrincipal user) => new(
        Guid.Parse(user.FindFirstValue(ApiKeyAuthentication.TenantClaim)!),
        Guid.Parse(user.FindFirstValue(ApiKeyAuthentication.KeyClaim)!),
        user.FindAll(ApiKeyAuthentication.ScopeClaim).Select(c => c.Value).ToHashSet());
}

/// <summary>
/// API keys look like <c>uk_{prefix}_{secret}</c>. The prefix finds the row; only SHA-256 of the secret is stored
/// (the secret is 256 random bits, so a slow password hash adds nothing) and compared in constant time.
/// </summary>
internal sealed class ApiKeyAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    UnlearnDbContext db, IMemoryCache cache, IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string TenantClaim = "tenant";
    public const string KeyClaim = "key";
    public const string ScopeClaim = "scope";

    // Revocation takes effect within this time; it saves a database round trip per request.
    static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    public static (string Key, string Prefix, byte[] SecretHash) NewKey()
    {
        var prefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        return ($"uk_{prefix}_{secret}", prefix, SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
    }

    static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Request.Headers.Authorization.ToString() is { Length: > 7 } auth && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? auth[7..].Trim()
            : Request.Headers["X-Api-Key"].ToString().Trim();
        if (presented.Length == 0) return AuthenticateResult.NoResult();
        // uk_ + 12 hex characters of prefix + _ + the secret (base64url, which may itself contain '_').
        if (presented.Length is < 36 or > 120 || !presented.StartsWith("uk_", StringComparison.Ordinal) || presented[15] != '_')
            return AuthenticateResult.Fail("Malformed API key.");
        var (prefix, secret) = (presented[3..15], presented[16..]);

        var cacheKey = $"apikey:{Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(presented)))}";
        if (!cache.TryGetValue(cacheKey, out ClaimsPrincipal? principal))
        {
            var key = await db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Prefix == prefix && k.RevokedAt == null, Context.RequestAborted);
            if (key is null || !CryptographicOperations.FixedTimeEquals(key.SecretHash, SHA256.HashData(Encoding.UTF8.GetBytes(secret))))
                return AuthenticateResult.Fail("Unknown or revoked API key.");
            var scopes = key.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var claims = new List<Claim> { new(TenantClaim, key.TenantId.ToString()), new(KeyClaim, key.Id.ToString()) };
            var granted = scopes.Contains(Scopes.Admin) ? Scopes.OfTenant.Union(scopes) : scopes;
            claims.AddRange(granted.Select(s => new Claim(ScopeClaim, s)));
            principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
            cache.Set(cacheKey, principal, CacheFor);
        }
        return AuthenticateResult.Success(new AuthenticationTicket(principal!, SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        WriteProblem(StatusCodes.Status401Unauthorized, "Unauthorized", "Send an API key as 'Authorization: Bearer uk_…' or 'X-Api-Key'.");

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteProblem(StatusCodes.Status403Forbidden, "Forbidden", "The API key lacks the scope this operation needs.");

    async Task WriteProblem(int status, string title, string detail)
    {
        Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized) Response.Headers.WWWAuthenticate = "Bearer";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}

internal static class ApiKeySetup
{
    public static IHostApplicationBuilder AddApiKeys(this IHostApplicationBuilder builder)
    {
        builder.Services.AddMemoryCache();
        builder.Services.AddAuthentication(ApiKeyAuthentication.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.SchemeName, null);
        builder.Services.AddAuthorization(auth =>
        {
            foreach (var scope in Scopes.All)
                auth.AddPolicy(scope, policy => policy.RequireAuthenticatedUser().RequireClaim(ApiKeyAuthentication.ScopeClaim, scope));
        });
        builder.Services.AddHostedService<AdminKeyBootstrap>();
        return builder;
    }
}
