using System.Security.Cryptography;
using System.Text;

namespace UnlearnService.Evidence;

/// <summary>
/// An ECDSA P-256 public key that evidence is verified with. Its key id is the lowercase hex SHA-256 of the
/// key's SubjectPublicKeyInfo DER encoding, so anyone holding the public key can recompute it; the id is only
/// a hint for finding the key, never trusted on its own.
/// </summary>
public sealed class VerificationKey
{
    private readonly byte[] _subjectPublicKeyInfo;
    private readonly ECParameters _parameters;

    private VerificationKey(ECParameters parameters)
    {
        // Importing validates that the point lies on the curve; a bad point fails here, not at verification.
        using var ecdsa = ECDsa.Create(parameters);
        _parameters = ecdsa.ExportParameters(includePrivateParameters: false);
        _subjectPublicKeyInfo = ecdsa.ExportSubjectPublicKeyInfo();
        KeyId = ComputeKeyId(_subjectPublicKeyInfo);
        JwkThumbprint = ComputeJwkThumbprint(_parameters);
    }

    /// <summary>Lowercase hex SHA-256 of the SubjectPublicKeyInfo DER (64 characters).</summary>
    public string KeyId { get; }

    /// <summary>The RFC 7638 JWK thumbprint (SHA-256, base64url): the fingerprint JOSE tools print for this key.</summary>
    public string JwkThumbprint { get; }

    /// <summary>The SubjectPublicKeyInfo DER encoding.</summary>
    public ReadOnlyMemory<byte> SubjectPublicKeyInfo => _subjectPublicKeyInfo;

    /// <summary>Computes a key id: lowercase hex SHA-256 of a SubjectPublicKeyInfo DER encoding.</summary>
    /// <param name="subjectPublicKeyInfo">The DER bytes.</param>
    /// <returns>The key id.</returns>
    public static string ComputeKeyId(ReadOnlySpan<byte> subjectPublicKeyInfo) =>
        Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));

    /// <summary>Reads a SubjectPublicKeyInfo DER encoding of a P-256 key.</summary>
    /// <param name="subjectPublicKeyInfo">The DER bytes.</param>
    /// <returns>The key.</returns>
    /// <exception cref="CryptographicException">Not a P-256 public key.</exception>
    public static VerificationKey FromSubjectPublicKeyInfo(ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        using var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out var read);
        if (read != subjectPublicKeyInfo.Length)
        {
            throw new CryptographicException("Trailing bytes after the SubjectPublicKeyInfo.");
        }
        return FromParameters(ecdsa.ExportParameters(includePrivateParameters: false));
    }

    /// <summary>Reads a <c>-----BEGIN PUBLIC KEY-----</c> PEM block (SubjectPublicKeyInfo) of a P-256 key.</summary>
    /// <param name="pem">The PEM text.</param>
    /// <returns>The key.</returns>
    /// <exception cref="CryptographicException">No such block, or not a P-256 key.</exception>
    public static VerificationKey FromPem(string pem)
    {
        var der = Pem.ReadSingle(pem, "PUBLIC KEY");
        return FromSubjectPublicKeyInfo(der);
    }

    /// <summary>Reads a JWK (kty EC, crv P-256). A <c>kid</c> other than this key's id is rejected.</summary>
    /// <param name="jwk">The JWK.</param>
    /// <returns>The key.</returns>
    /// <exception cref="CryptographicException">Not a P-256 signing key, or its kid does not match.</exception>
    public static VerificationKey FromJwk(Jwk jwk)
    {
        ArgumentNullException.ThrowIfNull(jwk);
        if (jwk.Kty != "EC" || jwk.Crv != "P-256" || jwk.Alg != "ES256" || jwk.Use != "sig")
        {
            throw new CryptographicException("Only EC P-256 ES256 signing keys (kty EC, crv P-256, alg ES256, use sig) are accepted.");
        }
        var x = Base64Url.DecodeStrict(jwk.X);
        var y = Base64Url.DecodeStrict(jwk.Y);
        if (x is not { Length: 32 } || y is not { Length: 32 })
        {
            throw new CryptographicException("JWK x and y must be 32-byte base64url values.");
        }
        var key = FromParameters(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = x, Y = y } });
        if (!string.Equals(jwk.Kid, key.KeyId, StringComparison.Ordinal))
        {
            throw new CryptographicException($"JWK kid {jwk.Kid} is not the key's id {key.KeyId}.");
        }
        return key;
    }

    internal static VerificationKey FromParameters(ECParameters parameters)
    {
        if (!parameters.Curve.IsNamed || parameters.Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            throw new CryptographicException("Only NIST P-256 keys are accepted.");
        }
        return new VerificationKey(parameters);
    }

    /// <summary>Writes the key as a <c>-----BEGIN PUBLIC KEY-----</c> PEM block.</summary>
    /// <returns>The PEM text, ending with a newline.</returns>
    public string ToPem() => new string(PemEncoding.Write("PUBLIC KEY", _subjectPublicKeyInfo)) + "\n";

    /// <summary>Writes the key as a JWK: kty EC, crv P-256, x, y (base64url), kid (the key id), alg ES256, use sig.</summary>
    /// <returns>The JWK.</returns>
    public Jwk ToJwk() => new("EC", "P-256", Base64Url.Encode(_parameters.Q.X!), Base64Url.Encode(_parameters.Q.Y!), KeyId, "ES256", "sig");

    /// <summary>Verifies an ECDSA P-256 / SHA-256 signature in DER form.</summary>
    /// <param name="data">The signed bytes.</param>
    /// <param name="derSignature">The DER (RFC 3279) signature.</param>
    /// <returns>Whether the signature is valid.</returns>
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> derSignature)
    {
        // A fresh instance per call: ECDsa objects are not documented as safe to share across threads.
        using var ecdsa = ECDsa.Create(_parameters);
        return ecdsa.VerifyData(data, derSignature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
    }

    private static string ComputeJwkThumbprint(ECParameters parameters)
    {
        // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
        var json = $"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{Base64Url.Encode(parameters.Q.X!)}\",\"y\":\"{Base64Url.Encode(parameters.Q.Y!)}\"}}";
        return Base64Url.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
    }
}

/// <summary>A JSON Web Key (RFC 7517) for an ECDSA P-256 signing key.</summary>
/// <param name="Kty">Key type: <c>EC</c>.</param>
/// <param name="Crv">Curve: <c>P-256</c>.</param>
/// <param name="X">The point's x coordinate, 32 bytes, base64url without padding.</param>
/// <param name="Y">The point's y coordinate, 32 bytes, base64url without padding.</param>
/// <param name="Kid">The key id: lowercase hex SHA-256 of the SubjectPublicKeyInfo DER.</param>
/// <param name="Alg">Algorithm: <c>ES256</c>.</param>
/// <param name="Use">Use: <c>sig</c>.</param>
public sealed record Jwk(string Kty, string Crv, string X, string Y, string Kid, string Alg, string Use);

/// <summary>A JWK set (RFC 7517 §5): what <c>GET /v1/keys/jwks</c> serves (<c>GET /v1/keys</c> adds each key as PEM).</summary>
/// <param name="Keys">The keys.</param>
public sealed record JwkSet(IReadOnlyList<Jwk> Keys);
