using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using UnlearnService.Evidence;

namespace UnlearnService.Evidence.Tests;

public sealed class DsseTests
{
    // The DSSE specification's published example (protocol.md, "Test Vectors"; implementation/signing_spec.py).
    private const string SpecPayloadType = "http://example.com/HelloWorld";
    private const string SpecPae = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
    private const string SpecX = "46950820868899156662930047687818585632848591499744589407958293238635476079160";
    private const string SpecY = "5640078356564379163099075877009565129882514886557779369047442380624545832820";
    private const string SpecSig = "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==";
    private const string SpecEnvelope =
        """{"payload": "aGVsbG8gd29ybGQ=", "payloadType": "http://example.com/HelloWorld", "signatures": [{"keyid": "66301bbf", "sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}""";

    private const string Type = "application/vnd.in-toto+json";

    [Fact]
    public void Pae_SpecExample_MatchesDocumentedBytes()
    {
        var pae = Dsse.Pae(SpecPayloadType, "hello world"u8);

        Assert.Equal(Encoding.ASCII.GetBytes(SpecPae), pae);
    }

    [Fact]
    public void Pae_NonAsciiTypeAndEmptyBody_CountsUtf8Bytes()
    {
        var pae = Dsse.Pae("é", []);

        Assert.Equal("DSSEv1 2 é 0 "u8.ToArray(), pae);
    }

    [Fact]
    public void Pae_SpecSignature_VerifiesWithSpecKeyAsRawSignature()
    {
        using var ecdsa = ECDsa.Create(SpecKeyParameters());

        var valid = ecdsa.VerifyData(Dsse.Pae(SpecPayloadType, "hello world"u8), Convert.FromBase64String(SpecSig),
            HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        Assert.True(valid);
    }

    [Fact]
    public void Verify_SpecEnvelopeWithSignatureConvertedToDer_IsValid()
    {
        var key = SpecVerificationKey();
        var der = ToDer(Convert.FromBase64String(SpecSig));
        var json = SpecEnvelope.Replace("66301bbf", key.KeyId).Replace(SpecSig, Convert.ToBase64String(der));

        var result = Dsse.Verify(json, SpecPayloadType, new KeySet([key]));

        Assert.True(result.IsValid, result.Message);
        Assert.Equal("hello world"u8.ToArray(), result.Payload);
    }

    [Fact]
    public void Verify_SpecEnvelopeAsPublished_RejectedAsNotDer()
    {
        // The spec signs with raw r||s; our profile requires DER, and says so rather than "bad signature".
        var key = SpecVerificationKey();
        var json = SpecEnvelope.Replace("66301bbf", key.KeyId);

        var result = Dsse.Verify(json, SpecPayloadType, new KeySet([key]));

        Assert.Equal(EvidenceError.NotDerSignature, result.Error);
    }

    [Fact]
    public void Parse_SpecEnvelope_ReadsFields()
    {
        var envelope = DsseEnvelope.Parse(SpecEnvelope);

        Assert.Equal("hello world"u8.ToArray(), envelope.Payload);
        Assert.Equal(SpecPayloadType, envelope.PayloadType);
        Assert.Equal("66301bbf", Assert.Single(envelope.Signatures).KeyId);
    }

    [Fact]
    public void Parse_UrlSafeUnpaddedBase64_Accepted()
    {
        // The spec requires verifiers to accept both alphabets.
        var json = """{"payload":"aGVsbG8gd29ybGQ","payloadType":"t","signatures":[{"sig":"_-8"}]}""";

        var envelope = DsseEnvelope.Parse(json);

        Assert.Equal(new byte[] { 0xff, 0xef }, envelope.Signatures[0].Sig);
        Assert.Equal("", envelope.Signatures[0].KeyId);
    }

    [Fact]
    public void Verify_SignedEnvelope_ReturnsPayloadAndKey()
    {
        using var key = SigningKey.Generate();
        var json = Dsse.Sign(Type, """{"a":1}"""u8, key).ToJson();

        var result = Dsse.Verify(json, Type, new KeySet([key.PublicKey]));

        Assert.True(result.IsValid, result.Message);
        Assert.Equal(EvidenceError.None, result.Error);
        Assert.Equal("""{"a":1}"""u8.ToArray(), result.Payload);
        Assert.Equal(key.KeyId, result.Key!.KeyId);
    }

    [Fact]
    public void ToJson_SignedEnvelope_HasExactlyTheDsseFields()
    {
        using var key = SigningKey.Generate();

        var json = JsonNode.Parse(Dsse.Sign(Type, "x"u8, key).ToJson())!.AsObject();

        Assert.Equal(["payload", "payloadType", "signatures"], json.Select(p => p.Key));
        Assert.Equal("eA==", (string?)json["payload"]);
        Assert.Equal(Type, (string?)json["payloadType"]);
        Assert.Equal(["keyid", "sig"], json["signatures"]![0]!.AsObject().Select(p => p.Key));
    }

    public static TheoryData<string, EvidenceError> TamperedVariants => new()
    {
        { "flipped payload bit", EvidenceError.BadSignature },
        { "flipped signature bit", EvidenceError.BadSignature },
        { "changed payloadType", EvidenceError.WrongPayloadType },
        { "changed payloadType that the verifier asks for", EvidenceError.BadSignature },
        { "signed by another key under a trusted keyid", EvidenceError.BadSignature },
        { "unknown keyid", EvidenceError.UnknownKeyId },
        { "missing keyid", EvidenceError.UnknownKeyId },
        { "raw r||s signature", EvidenceError.NotDerSignature },
        { "DER signature with trailing byte", EvidenceError.NotDerSignature },
        { "truncated JSON", EvidenceError.MalformedJson },
        { "trailing garbage", EvidenceError.MalformedJson },
        { "duplicate top-level key", EvidenceError.DuplicateKey },
        { "duplicate key inside a signature", EvidenceError.DuplicateKey },
        { "missing signatures", EvidenceError.MissingField },
        { "empty signatures", EvidenceError.NoSignatures },
        { "missing payload", EvidenceError.MissingField },
        { "missing sig", EvidenceError.MissingField },
        { "extra top-level field", EvidenceError.UnknownField },
        { "extra field inside a signature", EvidenceError.UnknownField },
        { "payload is a number", EvidenceError.WrongType },
        { "signatures is an object", EvidenceError.WrongType },
        { "root is an array", EvidenceError.WrongType },
        { "invalid base64 payload", EvidenceError.InvalidBase64 },
        { "base64 with whitespace", EvidenceError.InvalidBase64 },
        { "base64 with mixed alphabets", EvidenceError.InvalidBase64 },
        { "base64 with non-zero trailing bits", EvidenceError.InvalidBase64 },
    };

    [Theory]
    [MemberData(nameof(TamperedVariants))]
    public void Verify_TamperedEnvelope_RejectedWithItsReason(string variant, EvidenceError expected)
    {
        using var key = SigningKey.Generate();
        using var other = SigningKey.Generate();
        var payload = """{"hello":"world"}"""u8.ToArray();
        var envelope = Dsse.Sign(Type, payload, key);
        var json = envelope.ToJson();
        var sigB64 = Convert.ToBase64String(envelope.Signatures[0].Sig);
        var expectedType = Type;

        string tampered = variant switch
        {
            "flipped payload bit" => WithPayload(json, Flip(payload, 3)),
            "flipped signature bit" => json.Replace(sigB64, Convert.ToBase64String(Flip(envelope.Signatures[0].Sig, envelope.Signatures[0].Sig.Length - 1))),
            "changed payloadType" => json.Replace(Type, "application/json"),
            "changed payloadType that the verifier asks for" => Changed(json, j => j["payloadType"] = expectedType = "application/vnd.other+json"),
            "signed by another key under a trusted keyid" => Dsse.Sign(Type, payload, other).ToJson().Replace(other.KeyId, key.KeyId),
            "unknown keyid" => Dsse.Sign(Type, payload, other).ToJson(),
            "missing keyid" => Changed(json, j => j["signatures"]![0]!.AsObject().Remove("keyid")),
            "raw r||s signature" => json.Replace(sigB64, Convert.ToBase64String(ToRaw(envelope.Signatures[0].Sig))),
            "DER signature with trailing byte" => json.Replace(sigB64, Convert.ToBase64String([.. envelope.Signatures[0].Sig, 0])),
            "truncated JSON" => json[..(json.Length / 2)],
            "trailing garbage" => json + "x",
            "duplicate top-level key" => json.Replace("{\"payload\":", "{\"payloadType\":\"application/json\",\"payload\":"),
            "duplicate key inside a signature" => json.Replace("\"sig\":", "\"keyid\":\"x\",\"sig\":"),
            "missing signatures" => Changed(json, j => j.Remove("signatures")),
            "empty signatures" => Changed(json, j => j["signatures"] = new JsonArray()),
            "missing payload" => Changed(json, j => j.Remove("payload")),
            "missing sig" => Changed(json, j => j["signatures"]![0]!.AsObject().Remove("sig")),
            "extra top-level field" => Changed(json, j => j["comment"] = "trust me"),
            "extra field inside a signature" => Changed(json, j => j["signatures"]![0]!["cert"] = "x"),
            "payload is a number" => Changed(json, j => j["payload"] = 5),
            "signatures is an object" => Changed(json, j => j["signatures"] = new JsonObject()),
            "root is an array" => "[" + json + "]",
            "invalid base64 payload" => Changed(json, j => j["payload"] = "not base64!"),
            "base64 with whitespace" => Changed(json, j => j["payload"] = "eyJo ZWxsbyI6IndvcmxkIn0="),
            "base64 with mixed alphabets" => Changed(json, j => j["payload"] = "ab+_"),
            "base64 with non-zero trailing bits" => Changed(json, j => j["payload"] = "eB=="),
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };

        var result = Dsse.Verify(tampered, expectedType, new KeySet([key.PublicKey]));

        Assert.False(result.IsValid);
        Assert.Equal(expected, result.Error);
        Assert.Null(result.Payload);
        Assert.False(string.IsNullOrWhiteSpace(result.Message));
    }

    [Fact]
    public void Verify_TwoSignaturesOneTrusted_ValidWithTrustedKey()
    {
        using var key = SigningKey.Generate();
        using var other = SigningKey.Generate();
        var payload = "p"u8;
        var a = Dsse.Sign(Type, payload, other);
        var b = Dsse.Sign(Type, payload, key);
        var both = new DsseEnvelope(a.Payload, Type, [a.Signatures[0], b.Signatures[0]]).ToJson();

        var result = Dsse.Verify(both, Type, new KeySet([key.PublicKey]));

        Assert.True(result.IsValid, result.Message);
        Assert.Equal(key.KeyId, result.Key!.KeyId);
    }

    [Fact]
    public void TryFindDuplicateKey_NestedInArray_ReportsPath()
    {
        var found = EvidenceJson.TryFindDuplicateKey("""{"a":[1,{"b":{"c":1}},{"d":2,"d":3}]}"""u8, out var path);

        Assert.True(found);
        Assert.Equal("$.a[2].d", path);
    }

    [Fact]
    public void TryFindDuplicateKey_SameNameInSiblingObjects_NotADuplicate()
    {
        var found = EvidenceJson.TryFindDuplicateKey("""{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}"""u8, out _);

        Assert.False(found);
    }

    private static string Changed(string json, Action<JsonObject> change)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        change(node);
        return node.ToJsonString();
    }

    private static string WithPayload(string json, byte[] payload) => Changed(json, j => j["payload"] = Convert.ToBase64String(payload));

    private static byte[] Flip(byte[] data, int index)
    {
        var copy = data.ToArray();
        copy[index] ^= 0x01;
        return copy;
    }

    private static byte[] ToRaw(byte[] der)
    {
        // Re-encode the same (r, s) as IEEE P1363, which is what the DSSE spec example uses.
        var reader = new System.Formats.Asn1.AsnReader(der, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
        var r = reader.ReadInteger().ToByteArray(isUnsigned: true, isBigEndian: true);
        var s = reader.ReadInteger().ToByteArray(isUnsigned: true, isBigEndian: true);
        var raw = new byte[64];
        r.CopyTo(raw, 32 - r.Length);
        s.CopyTo(raw, 64 - s.Length);
        return raw;
    }

    private static byte[] ToDer(byte[] raw)
    {
        var writer = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(new BigInteger(raw.AsSpan(0, 32), isUnsigned: true, isBigEndian: true));
            writer.WriteInteger(new BigInteger(raw.AsSpan(32, 32), isUnsigned: true, isBigEndian: true));
        }
        return writer.Encode();
    }

    private static ECParameters SpecKeyParameters() => new()
    {
        Curve = ECCurve.NamedCurves.nistP256,
        Q = new ECPoint { X = Coordinate(SpecX), Y = Coordinate(SpecY) },
    };

    private static VerificationKey SpecVerificationKey()
    {
        using var ecdsa = ECDsa.Create(SpecKeyParameters());
        return VerificationKey.FromSubjectPublicKeyInfo(ecdsa.ExportSubjectPublicKeyInfo());
    }

    private static byte[] Coordinate(string decimalValue)
    {
        var bytes = BigInteger.Parse(decimalValue, System.Globalization.CultureInfo.InvariantCulture).ToByteArray(isUnsigned: true, isBigEndian: true);
        var padded = new byte[32];
        bytes.CopyTo(padded, 32 - bytes.Length);
        return padded;
    }
}
