using System.Globalization;
using System.Text.Json;

namespace UnlearnService.Evidence;

/// <summary>The outcome of verifying an unlearning certificate.</summary>
/// <param name="Error"><see cref="EvidenceError.None"/> when valid; otherwise why it was rejected.</param>
/// <param name="Message">A sentence for a person.</param>
/// <param name="Certificate">The certificate, only when valid.</param>
/// <param name="Statement">The in-toto statement, only when valid.</param>
/// <param name="Key">The key that signed it, only when valid.</param>
public sealed record CertificateVerification(
    EvidenceError Error,
    string Message,
    UnlearningCertificate? Certificate,
    InTotoStatement? Statement,
    VerificationKey? Key)
{
    /// <summary>Whether the certificate verified.</summary>
    public bool IsValid => Error == EvidenceError.None;

    internal static CertificateVerification Fail(EvidenceError error, string message) => new(error, message, null, null, null);
}

/// <summary>Issues unlearning certificates: an in-toto statement in a DSSE envelope, signed with ES256.</summary>
public static class CertificateIssuer
{
    /// <summary>Builds the in-toto statement of a certificate: subjects are the before and after model versions.</summary>
    /// <param name="certificate">The certificate predicate.</param>
    /// <returns>The statement.</returns>
    public static InTotoStatement ToStatement(UnlearningCertificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var lineage = certificate.Lineage;
        return new InTotoStatement(
            InTotoStatement.StatementType,
            [
                new InTotoSubject(UnlearningCertificate.BeforeSubjectName(lineage.BaseVersionId), new Dictionary<string, string> { ["sha256"] = lineage.BaseSha256 }),
                new InTotoSubject(UnlearningCertificate.AfterSubjectName(lineage.NewVersionId), new Dictionary<string, string> { ["sha256"] = lineage.NewSha256 }),
            ],
            UnlearningCertificate.PredicateType,
            JsonSerializer.SerializeToElement(certificate, EvidenceJson.Options));
    }

    /// <summary>
    /// Signs a certificate. It is checked first with the same rules the verifier applies, so the service can never
    /// issue a certificate that fails verification for being inconsistent.
    /// </summary>
    /// <param name="certificate">The certificate predicate.</param>
    /// <param name="key">The active signing key.</param>
    /// <returns>The DSSE envelope; <see cref="DsseEnvelope.ToJson"/> gives the document to store and serve.</returns>
    /// <exception cref="EvidenceFormatException">The certificate is inconsistent; the message says how.</exception>
    public static DsseEnvelope Sign(UnlearningCertificate certificate, SigningKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var statement = ToStatement(certificate);
        var problem = CertificateVerifier.FindInconsistency(statement, certificate);
        if (problem is not null)
        {
            throw new EvidenceFormatException(EvidenceError.Inconsistent, problem);
        }
        // Plain serializer output, not RFC 8785: DSSE signs bytes, so no canonical form is needed, and a canonical
        // form would turn a 64-bit seed into a double.
        var payload = JsonSerializer.SerializeToUtf8Bytes(statement, EvidenceJson.Options);
        return Dsse.Sign(InTotoStatement.PayloadType, payload, key);
    }
}

/// <summary>Verifies unlearning certificates offline, with nothing but the envelope and the trusted public keys.</summary>
public static class CertificateVerifier
{
    /// <summary>
    /// Verifies a certificate: the DSSE envelope (strict parsing, payloadType <c>application/vnd.in-toto+json</c>,
    /// an ES256 signature by a trusted key), then the in-toto statement (<c>_type</c>, predicateType), the predicate's
    /// schema, and its internal consistency (subjects equal the lineage's digests, the verdict equals its criteria,
    /// well-formed digests). Never throws for bad input; the result says why.
    /// </summary>
    /// <param name="envelopeJson">The certificate envelope JSON.</param>
    /// <param name="trustedKeys">The keys to trust.</param>
    /// <returns>The outcome, with the parsed certificate when valid.</returns>
    public static CertificateVerification Verify(string envelopeJson, KeySet trustedKeys)
    {
        var envelope = Dsse.Verify(envelopeJson, InTotoStatement.PayloadType, trustedKeys);
        if (!envelope.IsValid)
        {
            return CertificateVerification.Fail(envelope.Error, envelope.Message);
        }

        // Only the bytes that were verified are read from here on (DSSE: never re-parse the envelope).
        InTotoStatement statement;
        try
        {
            statement = EvidenceJson.Deserialize<InTotoStatement>(envelope.Payload);
        }
        catch (EvidenceFormatException e)
        {
            return CertificateVerification.Fail(
                e.Error == EvidenceError.DuplicateKey ? EvidenceError.DuplicateKey : EvidenceError.NotInTotoStatement,
                "The payload is not an in-toto statement: " + e.Message);
        }
        if (statement.Type != InTotoStatement.StatementType)
        {
            return CertificateVerification.Fail(EvidenceError.NotInTotoStatement,
                $"The payload's _type is '{statement.Type}', expected '{InTotoStatement.StatementType}'.");
        }
        if (statement.PredicateType != UnlearningCertificate.PredicateType)
        {
            return CertificateVerification.Fail(EvidenceError.WrongPredicateType,
                $"predicateType is '{statement.PredicateType}', expected '{UnlearningCertificate.PredicateType}'.");
        }

        UnlearningCertificate certificate;
        try
        {
            certificate = statement.Predicate.Deserialize<UnlearningCertificate>(EvidenceJson.Options)
                ?? throw new JsonException("The predicate is null.");
        }
        catch (JsonException e)
        {
            return CertificateVerification.Fail(EvidenceError.SchemaViolation, "The predicate is not an unlearning certificate: " + e.Message);
        }

        var problem = FindInconsistency(statement, certificate);
        if (problem is not null)
        {
            return CertificateVerification.Fail(EvidenceError.Inconsistent, problem);
        }
        return new CertificateVerification(EvidenceError.None, $"Valid certificate for request {certificate.Request.Id}, signed by key {envelope.Key!.KeyId}.",
            certificate, statement, envelope.Key);
    }

    /// <summary>Returns the first way the statement contradicts itself, or null when it is consistent.</summary>
    internal static string? FindInconsistency(InTotoStatement statement, UnlearningCertificate certificate)
    {
        var lineage = certificate.Lineage;
        foreach (var (name, value) in new[]
        {
            ("lineage.baseSha256", lineage.BaseSha256),
            ("lineage.newSha256", lineage.NewSha256),
            ("forgottenSamples.merkleRoot", certificate.ForgottenSamples.MerkleRoot),
            ("auditCheckpoint.rootHash", certificate.AuditCheckpoint.RootHash),
        })
        {
            if (!IsSha256Hex(value))
            {
                return $"{name} is not 64 lowercase hex characters.";
            }
        }
        if (lineage.BaseVersionId == lineage.NewVersionId)
        {
            return "The base and new model versions are the same version.";
        }

        var expected = new[]
        {
            (Name: UnlearningCertificate.BeforeSubjectName(lineage.BaseVersionId), Digest: lineage.BaseSha256),
            (Name: UnlearningCertificate.AfterSubjectName(lineage.NewVersionId), Digest: lineage.NewSha256),
        };
        if (statement.Subject.Count != expected.Length)
        {
            return $"The statement has {statement.Subject.Count} subjects; a certificate has exactly the before and after versions.";
        }
        for (var i = 0; i < expected.Length; i++)
        {
            var subject = statement.Subject[i];
            if (subject.Name != expected[i].Name)
            {
                return $"Subject {i} is named '{subject.Name}', but the lineage says '{expected[i].Name}'.";
            }
            if (subject.Digest.Count != 1 || !subject.Digest.TryGetValue("sha256", out var digest))
            {
                return $"Subject '{subject.Name}' must carry exactly one digest, sha256.";
            }
            if (digest != expected[i].Digest)
            {
                return $"Subject '{subject.Name}' has sha256 {digest}, but the lineage says {expected[i].Digest}.";
            }
        }

        if (certificate.ForgottenSamples.Count < 1)
        {
            return "The forgotten-sample commitment covers no samples.";
        }
        if (certificate.AuditCheckpoint.TreeSize < 1 || certificate.AuditCheckpoint.KeyId.Length == 0)
        {
            return "The audit checkpoint reference is empty.";
        }
        if (certificate.Request.CompletedAt < certificate.Request.ReceivedAt)
        {
            return "The request was completed before it was received.";
        }
        foreach (var (label, metrics) in new[] { ("metricsBefore", certificate.MetricsBefore), ("metricsAfter", certificate.MetricsAfter) })
        {
            var duplicate = metrics.GroupBy(m => m.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
            {
                return $"{label} lists metric '{duplicate.Key}' twice.";
            }
        }

        var verdict = certificate.Verdict;
        if (verdict.Criteria.Count == 0)
        {
            return "The verdict has no criteria.";
        }
        foreach (var criterion in verdict.Criteria)
        {
            if (criterion.Passed != criterion.Holds())
            {
                return string.Create(CultureInfo.InvariantCulture,
                    $"Criterion '{criterion.Name}' says passed={criterion.Passed}, but {criterion.Observed} {(criterion.Comparison == ThresholdComparison.AtMost ? "<=" : ">=")} {criterion.Threshold} is {criterion.Holds()}.");
            }
        }
        if (verdict.Passed != verdict.Criteria.All(c => c.Passed))
        {
            return $"The verdict says passed={verdict.Passed}, but its criteria say {verdict.Criteria.All(c => c.Passed)}.";
        }
        return null;
    }

    internal static bool IsSha256Hex(string value) =>
        value.Length == 64 && value.AsSpan().IndexOfAnyExcept("0123456789abcdef") < 0;
}
