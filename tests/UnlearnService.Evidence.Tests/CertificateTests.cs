using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using UnlearnService.Evidence;

namespace UnlearnService.Evidence.Tests;

public sealed class CertificateTests
{
    [Fact]
    public void Verify_IssuedCertificate_ReturnsTheSameCertificate()
    {
        using var key = SigningKey.Generate();
        var certificate = TestData.Certificate();

        var result = CertificateVerifier.Verify(CertificateIssuer.Sign(certificate, key).ToJson(), new KeySet([key.PublicKey]));

        Assert.True(result.IsValid, result.Message);
        var back = result.Certificate!;
        Assert.Equal(certificate.Request, back.Request);
        Assert.Equal(certificate.Lineage, back.Lineage);
        Assert.Equal(certificate.ForgottenSamples, back.ForgottenSamples);
        Assert.Equal(certificate.MetricsAfter, back.MetricsAfter);
        Assert.Equal(certificate.Verdict.Criteria, back.Verdict.Criteria);
        Assert.Equal(10, back.Hyperparameters["alpha"].GetInt32());
        Assert.Equal(key.KeyId, result.Key!.KeyId);
    }

    [Fact]
    public void Sign_Certificate_StatementHasInTotoShapeAndModelVersionSubjects()
    {
        using var key = SigningKey.Generate();

        var envelope = CertificateIssuer.Sign(TestData.Certificate(), key);
        var statement = JsonNode.Parse(envelope.Payload)!;

        Assert.Equal("application/vnd.in-toto+json", envelope.PayloadType);
        Assert.Equal(["_type", "subject", "predicateType", "predicate"], statement.AsObject().Select(p => p.Key));
        Assert.Equal("https://in-toto.io/Statement/v1", (string?)statement["_type"]);
        Assert.Equal("https://unlearnservice.dev/unlearning-certificate/v1", (string?)statement["predicateType"]);
        Assert.Equal("model-version:v1:before", (string?)statement["subject"]![0]!["name"]);
        Assert.Equal(TestData.BaseSha, (string?)statement["subject"]![0]!["digest"]!["sha256"]);
        Assert.Equal("model-version:v2:after", (string?)statement["subject"]![1]!["name"]);
        Assert.Equal(TestData.NewSha, (string?)statement["subject"]![1]!["digest"]!["sha256"]);
        Assert.Equal("dr-7f3a", (string?)statement["predicate"]!["request"]!["id"]);
        Assert.Equal("atLeast", (string?)statement["predicate"]!["verdict"]!["criteria"]![0]!["comparison"]);
    }

    [Fact]
    public void Verify_SubjectDigestChangedWithoutResigning_BadSignature()
    {
        using var key = SigningKey.Generate();
        var envelope = CertificateIssuer.Sign(TestData.Certificate(), key);
        var payload = Encoding.UTF8.GetString(envelope.Payload).Replace(TestData.NewSha, new string('3', 64));
        var tampered = new DsseEnvelope(Encoding.UTF8.GetBytes(payload), envelope.PayloadType, envelope.Signatures).ToJson();

        var result = CertificateVerifier.Verify(tampered, new KeySet([key.PublicKey]));

        Assert.Equal(EvidenceError.BadSignature, result.Error);
        Assert.Null(result.Certificate);
    }

    [Fact]
    public void Verify_SignedStatementWhoseSubjectContradictsLineage_Inconsistent()
    {
        // A signer that bypasses CertificateIssuer's checks still cannot make the verifier accept it.
        using var key = SigningKey.Generate();
        var statement = JsonNode.Parse(CertificateIssuer.Sign(TestData.Certificate(), key).Payload)!;
        statement["subject"]![1]!["digest"]!["sha256"] = new string('3', 64);

        var result = CertificateVerifier.Verify(SignRaw(statement, key), new KeySet([key.PublicKey]));

        Assert.Equal(EvidenceError.Inconsistent, result.Error);
        Assert.Contains("model-version:v2:after", result.Message);
    }

    public static TheoryData<string, EvidenceError> BadStatements => new()
    {
        { "payload is not an in-toto statement", EvidenceError.NotInTotoStatement },
        { "wrong _type", EvidenceError.NotInTotoStatement },
        { "wrong predicateType", EvidenceError.WrongPredicateType },
        { "duplicate key inside the payload", EvidenceError.DuplicateKey },
        { "unknown predicate member", EvidenceError.SchemaViolation },
        { "missing predicate member", EvidenceError.SchemaViolation },
        { "verdict contradicts its criteria", EvidenceError.Inconsistent },
        { "criterion contradicts its threshold", EvidenceError.Inconsistent },
        { "subjects swapped", EvidenceError.Inconsistent },
        { "third subject", EvidenceError.Inconsistent },
        { "uppercase digest", EvidenceError.Inconsistent },
    };

    [Theory]
    [MemberData(nameof(BadStatements))]
    public void Verify_ValidlySignedButBadStatement_RejectedWithItsReason(string variant, EvidenceError expected)
    {
        using var key = SigningKey.Generate();
        var statement = JsonNode.Parse(CertificateIssuer.Sign(TestData.Certificate(), key).Payload)!;
        var predicate = statement["predicate"]!;

        string payload = variant switch
        {
            "payload is not an in-toto statement" => """{"hello":"world"}""",
            "wrong _type" => Set(statement, s => s["_type"] = "https://in-toto.io/Statement/v0.1"),
            "wrong predicateType" => Set(statement, s => s["predicateType"] = "https://slsa.dev/provenance/v1"),
            "duplicate key inside the payload" => statement.ToJsonString().Replace("\"method\":", "\"method\":\"ga\",\"method\":"),
            "unknown predicate member" => Set(statement, _ => predicate["comment"] = "x"),
            "missing predicate member" => Set(statement, _ => predicate.AsObject().Remove("seed")),
            "verdict contradicts its criteria" => Set(statement, _ => predicate["verdict"]!["criteria"]![0]!["passed"] = false),
            "criterion contradicts its threshold" => Set(statement, _ => predicate["verdict"]!["criteria"]![1]!["observed"] = 5),
            "subjects swapped" => Set(statement, s => s["subject"] = new JsonArray(s["subject"]![1]!.DeepClone(), s["subject"]![0]!.DeepClone())),
            "third subject" => Set(statement, s => s["subject"]!.AsArray().Add(s["subject"]![0]!.DeepClone())),
            "uppercase digest" => Set(statement, s =>
            {
                s["subject"]![0]!["digest"]!["sha256"] = new string('A', 64);
                predicate["lineage"]!["baseSha256"] = new string('A', 64);
            }),
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };

        var result = CertificateVerifier.Verify(SignRaw(payload, key), new KeySet([key.PublicKey]));

        Assert.False(result.IsValid);
        Assert.Equal(expected, result.Error);
        Assert.Null(result.Certificate);
    }

    [Fact]
    public void Verify_CheckpointEnvelopeOfferedAsCertificate_WrongPayloadType()
    {
        using var key = SigningKey.Generate();
        var checkpoint = new AuditCheckpoint(1, new string('a', 64), DateTimeOffset.UnixEpoch).Sign(key).ToJson();

        var result = CertificateVerifier.Verify(checkpoint, new KeySet([key.PublicKey]));

        Assert.Equal(EvidenceError.WrongPayloadType, result.Error);
    }

    [Fact]
    public void Sign_VerdictContradictsCriteria_Throws()
    {
        using var key = SigningKey.Generate();
        var certificate = TestData.Certificate(passed: false);
        var lying = certificate with { Verdict = certificate.Verdict with { Passed = true } };

        var e = Assert.Throws<EvidenceFormatException>(() => CertificateIssuer.Sign(lying, key));

        Assert.Equal(EvidenceError.Inconsistent, e.Error);
    }

    [Fact]
    public void Sign_FailedVerdict_StillIssuedAndVerifies()
    {
        using var key = SigningKey.Generate();

        var result = CertificateVerifier.Verify(CertificateIssuer.Sign(TestData.Certificate(passed: false), key).ToJson(), new KeySet([key.PublicKey]));

        Assert.True(result.IsValid, result.Message);
        Assert.False(result.Certificate!.Verdict.Passed);
    }

    private static string Set(JsonNode statement, Action<JsonNode> change)
    {
        change(statement);
        return statement.ToJsonString();
    }

    private static string SignRaw(JsonNode statement, SigningKey key) => SignRaw(statement.ToJsonString(), key);

    private static string SignRaw(string payload, SigningKey key) =>
        Dsse.Sign(InTotoStatement.PayloadType, Encoding.UTF8.GetBytes(payload), key).ToJson();
}
