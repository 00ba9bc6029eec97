using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using UnlearnService.Evidence;
using UnlearnService.Hosting;

namespace UnlearnService.Features.Keys;

/// <summary>One published key: PEM and JWK, and whether it still signs.</summary>
internal sealed record PublishedKey(string Kid, string Alg, string Status, string JwkThumbprint, string Pem, Jwk Jwk);

internal sealed record KeysResponse(string ActiveKeyId, IReadOnlyList<PublishedKey> Keys);

internal static class KeySetup
{
    /// <summary>The key ring: created on first start where allowed, read once, shared by every signer.</summary>
    public static IHostApplicationBuilder AddSigningKeys(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<EvidenceOptions>().BindConfiguration(EvidenceOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<EvidenceOptions>, EvidenceOptionsValidator>();
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<EvidenceOptions>>().Value;
            var path = options.ResolveKeyFile(sp.GetRequiredService<IOptions<ServiceOptions>>().Value);
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(KeySetup));
            if (options.CreateKeyIfMissing && KeyFiles.CreateIfMissing(path))
                logger.LogWarning("Created a new signing key in {KeyFile}; back it up, and publish its public half to auditors", path);
            var ring = KeyRing.FromFiles(path, options.RetiredKeyFiles);
            logger.LogInformation("Signing with key {KeyId}; {Retired} retired key(s) kept for verification", ring.Active.KeyId, ring.Retired.Count);
            return ring;
        });
        builder.Services.AddHostedService<SigningKeyStartup>();
        return builder;
    }

    /// <summary>GET /v1/keys: public keys, anonymous, since anyone checking evidence needs them.</summary>
    public static IEndpointRouteBuilder MapKeyEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/keys").WithTags("Keys").AllowAnonymous();
        group.MapGet("/", List).WithName("ListSigningKeys")
            .WithSummary("The public signing keys, active and retired, as PEM and JWK. Key id = SHA-256 of the SubjectPublicKeyInfo DER.");
        group.MapGet("/jwks", Jwks).WithName("GetSigningKeysJwks")
            .WithSummary("The same keys as a plain JWK set (RFC 7517), the file `unlearn verify --key` and KeySet.FromJwks read.");
        return app;
    }

    static Ok<KeysResponse> List(KeyRing ring) =>
        TypedResults.Ok(new KeysResponse(ring.Active.KeyId,
            [Publish(ring.Active.PublicKey, "active"), .. ring.Retired.Select(k => Publish(k, "retired"))]));

    static Ok<JwkSet> Jwks(KeyRing ring) => TypedResults.Ok(ring.VerificationKeys.ToJwkSet());

    static PublishedKey Publish(VerificationKey key, string status) => new(key.KeyId, "ES256", status, key.JwkThumbprint, key.ToPem(), key.ToJwk());
}

/// <summary>Loads (or creates) the keys when the process starts rather than at the first certificate.</summary>
internal sealed class SigningKeyStartup(KeyRing ring) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        GC.KeepAlive(ring);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
