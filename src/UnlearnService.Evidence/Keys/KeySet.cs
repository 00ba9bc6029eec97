using System.Collections;
using System.Text;
using System.Text.Json;

namespace UnlearnService.Evidence;

/// <summary>The public keys a verifier trusts, found by key id. An auditor builds one from <c>GET /v1/keys/jwks</c>.</summary>
public sealed class KeySet : IReadOnlyCollection<VerificationKey>
{
    private readonly Dictionary<string, VerificationKey> _keys = new(StringComparer.Ordinal);

    /// <summary>Creates a key set.</summary>
    /// <param name="keys">The trusted keys; the same key twice is kept once.</param>
    public KeySet(IEnumerable<VerificationKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var key in keys)
        {
            _keys.TryAdd(key.KeyId, key);
        }
    }

    /// <inheritdoc/>
    public int Count => _keys.Count;

    /// <summary>Finds a key by its id.</summary>
    /// <param name="keyId">The key id (lowercase hex SHA-256 of the SubjectPublicKeyInfo DER).</param>
    /// <param name="key">The key when found.</param>
    /// <returns>Whether the set holds the key.</returns>
    public bool TryGet(string keyId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out VerificationKey? key) =>
        _keys.TryGetValue(keyId, out key);

    /// <summary>Reads a JWK set (<c>{"keys": [...]}</c>) strictly; every key must be an ES256 P-256 key whose kid is its key id.</summary>
    /// <param name="json">The JWK set.</param>
    /// <returns>The key set.</returns>
    /// <exception cref="EvidenceFormatException">Not a strict JWK set.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">A key is not an acceptable P-256 key.</exception>
    public static KeySet FromJwks(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var set = EvidenceJson.Deserialize<JwkSet>(Encoding.UTF8.GetBytes(json));
        return new KeySet(set.Keys.Select(VerificationKey.FromJwk));
    }

    /// <summary>Reads one or more <c>-----BEGIN PUBLIC KEY-----</c> PEM blocks.</summary>
    /// <param name="pem">The PEM text.</param>
    /// <returns>The key set.</returns>
    public static KeySet FromPem(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var blocks = Pem.ReadAll(pem);
        if (blocks.Count == 0 || blocks.Any(b => b.Label != "PUBLIC KEY"))
        {
            throw new System.Security.Cryptography.CryptographicException("Expected one or more 'PUBLIC KEY' PEM blocks.");
        }
        return new KeySet(blocks.Select(b => VerificationKey.FromSubjectPublicKeyInfo(b.Der)));
    }

    /// <summary>The keys as a JWK set.</summary>
    /// <returns>The JWK set.</returns>
    public JwkSet ToJwkSet() => new(_keys.Values.OrderBy(k => k.KeyId, StringComparer.Ordinal).Select(k => k.ToJwk()).ToList());

    /// <summary>The keys as JWK set JSON.</summary>
    /// <returns>The JSON text.</returns>
    public string ToJwksJson() => JsonSerializer.Serialize(ToJwkSet(), EvidenceJson.Options);

    /// <inheritdoc/>
    public IEnumerator<VerificationKey> GetEnumerator() => _keys.Values.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
