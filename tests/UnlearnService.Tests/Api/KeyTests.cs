using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using UnlearnService.Evidence;
using UnlearnService.Evidence.Tests;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

public sealed class KeyTests
{
    [Fact]
    public async Task Keys_AfterRotation_PublishesActiveAndRetiredAndVerifiesOldCertificates()
    {
        // First start: the service creates its key in the data directory.
        string oldKeyFile, oldKid;
        await using (var first = await RunningService.StartAsync(postgres: false))
        {
            oldKeyFile = Path.Combine(first.Process.DataDirectory, "signing-key.pem");
            Assert.True(File.Exists(oldKeyFile));
            oldKid = (await first.Client().GetFromJsonAsync<JsonElement>("/v1/keys")).GetProperty("activeKeyId").GetString()!;
        }
        // Something signed before the rotation (the evidence library's sample certificate, with the old key).
        string oldCertificate;
        using (var oldKey = SigningKey.FromPem(await File.ReadAllTextAsync(oldKeyFile)))
            oldCertificate = CertificateIssuer.Sign(TestData.Certificate(), oldKey).ToJson();

        // Rotation: a new active key; the old one retired.
        var newKeyFile = Path.Combine(TempFolder.Create("keys"), "new-key.pem");
        await using var second = await RunningService.StartAsync(postgres: false, new Dictionary<string, string>
        {
            ["Evidence:KeyFile"] = newKeyFile,
            ["Evidence:RetiredKeyFiles:0"] = oldKeyFile,
        });
        using var anonymous = second.Client();

        var keys = await anonymous.GetFromJsonAsync<JsonElement>("/v1/keys");
        var listed = keys.GetProperty("keys").EnumerateArray().ToDictionary(k => k.GetProperty("kid").GetString()!, k => k.GetProperty("status").GetString());
        var newKid = keys.GetProperty("activeKeyId").GetString()!;
        Assert.NotEqual(oldKid, newKid);
        Assert.Equal("active", listed[newKid]);
        Assert.Equal("retired", listed[oldKid]);
        foreach (var key in keys.GetProperty("keys").EnumerateArray())
        {
            // The PEM and the JWK are the same key, and the kid is recomputable from it.
            var fromPem = VerificationKey.FromPem(key.GetProperty("pem").GetString()!);
            Assert.Equal(key.GetProperty("kid").GetString(), fromPem.KeyId);
            Assert.Equal(fromPem.KeyId, key.GetProperty("jwk").GetProperty("kid").GetString());
            Assert.Equal("ES256", key.GetProperty("alg").GetString());
        }
        var jwks = KeySet.FromJwks(await anonymous.GetStringAsync("/v1/keys/jwks"));
        Assert.Equal(2, jwks.Count);

        var verified = await (await anonymous.PostAsync("/v1/certificates/verify", new StringContent(oldCertificate, Encoding.UTF8, "application/json")))
            .EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(verified.GetProperty("valid").GetBoolean(), verified.ToString());
        Assert.Equal(oldKid, verified.GetProperty("keyId").GetString());
    }
}
