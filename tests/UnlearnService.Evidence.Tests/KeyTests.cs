using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using UnlearnService.Evidence;

namespace UnlearnService.Evidence.Tests;

public sealed class KeyTests
{
    [Fact]
    public void KeyId_GeneratedKey_IsLowercaseHexSha256OfSubjectPublicKeyInfo()
    {
        using var key = SigningKey.Generate();
        using var ecdsa = ECDsa.Create();
        ecdsa.ImportFromPem(key.PublicKey.ToPem());

        var expected = Convert.ToHexString(SHA256.HashData(ecdsa.ExportSubjectPublicKeyInfo())).ToLowerInvariant();

        Assert.Equal(expected, key.KeyId);
        Assert.Matches("^[0-9a-f]{64}$", key.KeyId);
    }

    [Fact]
    public void FromPem_ExportedPkcs8_SameKeyThatSignsVerifiably()
    {
        using var key = SigningKey.Generate();
        var pem = key.ExportPkcs8Pem();

        using var loaded = SigningKey.FromPem(pem);

        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", pem);
        Assert.Equal(key.KeyId, loaded.KeyId);
        Assert.True(key.PublicKey.Verify("data"u8, loaded.Sign("data"u8)));
        Assert.False(key.PublicKey.Verify("other"u8, loaded.Sign("data"u8)));
    }

    [Fact]
    public void FromPem_PublicKeyOrSec1OrOtherCurve_Rejected()
    {
        using var key = SigningKey.Generate();
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        Assert.Throws<CryptographicException>(() => SigningKey.FromPem(key.PublicKey.ToPem()));
        Assert.Throws<CryptographicException>(() => SigningKey.FromPem(p256.ExportECPrivateKeyPem()));
        Assert.Throws<CryptographicException>(() => SigningKey.FromPem(p384.ExportPkcs8PrivateKeyPem()));
        Assert.Throws<CryptographicException>(() => VerificationKey.FromPem(p384.ExportSubjectPublicKeyInfoPem()));
    }

    [Fact]
    public void ToJwk_GeneratedKey_HasTheJoseMembersAndRoundTrips()
    {
        using var key = SigningKey.Generate();

        var json = JsonNode.Parse(new KeySet([key.PublicKey]).ToJwksJson())!;
        var jwk = json["keys"]![0]!.AsObject();

        Assert.Equal(["kty", "crv", "x", "y", "kid", "alg", "use"], jwk.Select(p => p.Key));
        Assert.Equal("EC", (string?)jwk["kty"]);
        Assert.Equal("P-256", (string?)jwk["crv"]);
        Assert.Equal("ES256", (string?)jwk["alg"]);
        Assert.Equal("sig", (string?)jwk["use"]);
        Assert.Equal(key.KeyId, (string?)jwk["kid"]);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", (string?)jwk["x"]);
        var roundTripped = KeySet.FromJwks(json.ToJsonString());
        Assert.True(roundTripped.TryGet(key.KeyId, out var back));
        Assert.Equal(key.PublicKey.SubjectPublicKeyInfo.ToArray(), back.SubjectPublicKeyInfo.ToArray());
    }

    [Fact]
    public void FromJwks_KidNotTheKeyId_Rejected()
    {
        using var key = SigningKey.Generate();
        var json = new KeySet([key.PublicKey]).ToJwksJson().Replace(key.KeyId, new string('0', 64));

        Assert.Throws<CryptographicException>(() => KeySet.FromJwks(json));
    }

    [Fact]
    public void FromJwks_UnknownMemberOrPointOffCurve_Rejected()
    {
        using var key = SigningKey.Generate();
        var json = JsonNode.Parse(new KeySet([key.PublicKey]).ToJwksJson())!;
        var extra = json.DeepClone();
        extra["keys"]![0]!["d"] = "secret";
        var offCurve = json.DeepClone();
        offCurve["keys"]![0]!["y"] = offCurve["keys"]![0]!["x"]!.GetValue<string>();

        Assert.Throws<EvidenceFormatException>(() => KeySet.FromJwks(extra.ToJsonString()));
        Assert.ThrowsAny<CryptographicException>(() => KeySet.FromJwks(offCurve.ToJsonString()));
    }

    [Fact]
    public void JwkThumbprint_KnownKey_MatchesRfc7638Computation()
    {
        using var key = SigningKey.Generate();
        var jwk = key.PublicKey.ToJwk();
        var canonical = $"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{jwk.X}\",\"y\":\"{jwk.Y}\"}}";

        var expected = Convert.ToBase64String(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonical)))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

        Assert.Equal(expected, key.PublicKey.JwkThumbprint);
    }

    [Fact]
    public void KeyRing_AfterRotation_OldEvidenceVerifiesAndNewKeySigns()
    {
        using var oldKey = SigningKey.Generate();
        var oldCertificate = CertificateIssuer.Sign(TestData.Certificate(), oldKey).ToJson();
        using var newKey = SigningKey.Generate();

        using var ring = KeyRing.FromPem(newKey.ExportPkcs8Pem(), [oldKey.ExportPkcs8Pem()]);
        var newCertificate = CertificateIssuer.Sign(TestData.Certificate(), ring.Active).ToJson();

        Assert.Equal(newKey.KeyId, ring.Active.KeyId);
        Assert.Equal([oldKey.KeyId], ring.Retired.Select(k => k.KeyId));
        Assert.Equal(2, ring.VerificationKeys.Count);
        Assert.True(CertificateVerifier.Verify(oldCertificate, ring.VerificationKeys).IsValid);
        Assert.Equal(newKey.KeyId, CertificateVerifier.Verify(newCertificate, ring.VerificationKeys).Key!.KeyId);
        Assert.Equal(EvidenceError.UnknownKeyId, CertificateVerifier.Verify(oldCertificate, new KeySet([ring.Active.PublicKey])).Error);
    }

    [Fact]
    public void KeyRing_RetiredGivenAsPublicKeyPem_Accepted()
    {
        using var oldKey = SigningKey.Generate();
        using var newKey = SigningKey.Generate();

        using var ring = KeyRing.FromPem(newKey.ExportPkcs8Pem(), [oldKey.PublicKey.ToPem()]);

        Assert.True(ring.VerificationKeys.TryGet(oldKey.KeyId, out _));
    }

    [Fact]
    public void CreateIfMissing_NewPath_WritesOwnerOnlyKeyAndNeverOverwrites()
    {
        var directory = Directory.CreateTempSubdirectory("evidence-keys-");
        try
        {
            var path = Path.Combine(directory.FullName, "keys", "signing.pem");

            var created = KeyFiles.CreateIfMissing(path);
            var first = File.ReadAllText(path);
            var createdAgain = KeyFiles.CreateIfMissing(path);

            Assert.True(created);
            Assert.False(createdAgain);
            Assert.Equal(first, File.ReadAllText(path));
            using var ring = KeyRing.FromFiles(path, []);
            Assert.Matches("^[0-9a-f]{64}$", ring.Active.KeyId);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void FromPem_BundleOfPublicKeys_AllTrusted()
    {
        using var a = SigningKey.Generate();
        using var b = SigningKey.Generate();

        var set = KeySet.FromPem(a.PublicKey.ToPem() + b.PublicKey.ToPem());

        Assert.Equal(2, set.Count);
        Assert.True(set.TryGet(b.KeyId, out _));
        Assert.Throws<CryptographicException>(() => KeySet.FromPem(a.ExportPkcs8Pem()));
    }

    [Fact]
    public void Options_ThresholdComparisonAsNumber_Rejected()
    {
        var json = JsonSerializer.Serialize(new VerdictCriterion("c", "d", 1, ThresholdComparison.AtMost, 2, true), EvidenceJson.Options);

        Assert.Contains("\"atMost\"", json);
        Assert.Throws<EvidenceFormatException>(() => EvidenceJson.Deserialize<VerdictCriterion>(System.Text.Encoding.UTF8.GetBytes(json.Replace("\"atMost\"", "0"))));
    }
}
