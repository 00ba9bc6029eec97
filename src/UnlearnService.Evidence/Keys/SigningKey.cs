using System.Security.Cryptography;

namespace UnlearnService.Evidence;

/// <summary>
/// An ECDSA P-256 private key that signs evidence (ES256: SHA-256, DER signatures). Its
/// <see cref="KeyId"/> is that of its <see cref="PublicKey"/>.
/// </summary>
public sealed class SigningKey : IDisposable
{
    private readonly ECDsa _ecdsa;
    private readonly Lock _lock = new();

    private SigningKey(ECDsa ecdsa)
    {
        _ecdsa = ecdsa;
        PublicKey = VerificationKey.FromParameters(ecdsa.ExportParameters(includePrivateParameters: false));
    }

    /// <summary>The public half, for verification and publication.</summary>
    public VerificationKey PublicKey { get; }

    /// <summary>The key id: lowercase hex SHA-256 of the public key's SubjectPublicKeyInfo DER.</summary>
    public string KeyId => PublicKey.KeyId;

    /// <summary>Creates a new random P-256 key.</summary>
    /// <returns>The key.</returns>
    public static SigningKey Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>Reads an unencrypted PKCS#8 <c>-----BEGIN PRIVATE KEY-----</c> PEM block holding a P-256 key.</summary>
    /// <param name="pem">The PEM text (from a file or a configuration string).</param>
    /// <returns>The key.</returns>
    /// <exception cref="CryptographicException">No such block, an encrypted or SEC1 key, or another curve.</exception>
    public static SigningKey FromPem(string pem)
    {
        var der = Pem.ReadSingle(pem, "PRIVATE KEY");
        var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportPkcs8PrivateKey(der, out var read);
            if (read != der.Length)
            {
                throw new CryptographicException("Trailing bytes after the PKCS#8 key.");
            }
            return new SigningKey(ecdsa);
        }
        catch
        {
            ecdsa.Dispose();
            throw;
        }
    }

    /// <summary>Writes the private key as an unencrypted PKCS#8 PEM block; protect the result like the key itself.</summary>
    /// <returns>The PEM text, ending with a newline.</returns>
    public string ExportPkcs8Pem()
    {
        lock (_lock)
        {
            return new string(PemEncoding.Write("PRIVATE KEY", _ecdsa.ExportPkcs8PrivateKey())) + "\n";
        }
    }

    /// <summary>Signs data with ECDSA P-256 over SHA-256; the signature is DER (RFC 3279).</summary>
    /// <param name="data">The bytes to sign.</param>
    /// <returns>The DER signature.</returns>
    public byte[] Sign(ReadOnlySpan<byte> data)
    {
        // ECDsa instances are not documented as thread-safe; a certificate job and a checkpoint job may sign at once.
        lock (_lock)
        {
            return _ecdsa.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _ecdsa.Dispose();
}
