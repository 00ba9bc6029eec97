using System.Globalization;

namespace UnlearnService.Evidence;

/// <summary>
/// What a certificate report says, worked out once so that the HTML and the PDF say the same thing in the same
/// words; the renderers only lay it out.
/// </summary>
internal sealed record ReportContent(
    string Title,
    string Subtitle,
    bool Passed,
    string VerdictLine,
    IReadOnlyList<ReportSection> Sections,
    IReadOnlyList<MetricRow> Metrics,
    IReadOnlyList<CriterionRow> Criteria,
    IReadOnlyList<(string Label, string Value)> Signature)
{
    public const string ChartNote = "Bars are scaled per metric, because metrics have different units; the numbers are the values.";

    public static ReportContent From(UnlearningCertificate certificate, VerificationKey key)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(key);
        var request = certificate.Request;
        var lineage = certificate.Lineage;
        var onTime = request.CompletedAt <= request.DueAt ? "on time" : "LATE";

        var sections = new List<ReportSection>
        {
            new("Request",
            [
                ("Request id", request.Id),
                ("External reference", request.ExternalReference ?? "—"),
                ("Reason", request.Reason),
                ("Legal basis", request.LegalBasis),
                ("Received", Time(request.ReceivedAt)),
                ("Due", Time(request.DueAt)),
                ("Completed", $"{Time(request.CompletedAt)} ({onTime})"),
            ]),
            new("Lineage",
            [
                ("Model", lineage.ModelId),
                ("Versions", $"{lineage.BaseVersionId} → {lineage.NewVersionId}"),
                ("Before (base version)", lineage.BaseVersionId),
                ("  sha256", lineage.BaseSha256),
                ("After (new version)", lineage.NewVersionId),
                ("  sha256", lineage.NewSha256),
                ("Unlearning run", lineage.RunId),
            ]),
            new("Forgotten samples",
            [
                ("Samples", certificate.ForgottenSamples.Count.ToString(CultureInfo.InvariantCulture)),
                ("Merkle root", certificate.ForgottenSamples.MerkleRoot),
                ("Commitment", certificate.ForgottenSamples.HashAlgorithm),
            ]),
            new("Method",
            [
                ("Method", certificate.Method),
                ("Seed", certificate.Seed.ToString(CultureInfo.InvariantCulture)),
                ("Device", certificate.Device),
                ("Code version", certificate.CodeVersion),
                .. certificate.Hyperparameters.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => ($"  {h.Key}", h.Value.GetRawText())),
            ]),
        };

        var after = certificate.MetricsAfter.ToDictionary(m => m.Name, StringComparer.Ordinal);
        var before = certificate.MetricsBefore.ToDictionary(m => m.Name, StringComparer.Ordinal);
        var names = certificate.MetricsBefore.Select(m => m.Name)
            .Concat(certificate.MetricsAfter.Select(m => m.Name)).Distinct(StringComparer.Ordinal);
        var metrics = names.Select(name =>
        {
            var b = before.GetValueOrDefault(name);
            var a = after.GetValueOrDefault(name);
            var definition = (a ?? b)!;
            return new MetricRow(name, b?.Value, a?.Value, definition.Definition, definition.DefinitionVersion);
        }).ToList();

        var criteria = certificate.Verdict.Criteria.Select(c => new CriterionRow(
            c.Name, c.Description, Number(c.Observed),
            (c.Comparison == ThresholdComparison.AtMost ? "≤ " : "≥ ") + Number(c.Threshold), c.Passed)).ToList();

        var checkpoint = certificate.AuditCheckpoint;
        var signature = new List<(string, string)>
        {
            ("Signing key id (SHA-256 of the public key's SubjectPublicKeyInfo DER)", key.KeyId),
            ("Key fingerprint (RFC 7638 JWK thumbprint, SHA-256)", key.JwkThumbprint),
            ("Signature", "DSSE v1 envelope, ECDSA P-256 / SHA-256 (ES256), in-toto Statement v1"),
            ("Audit log at issue", $"{checkpoint.TreeSize.ToString(CultureInfo.InvariantCulture)} events"),
            ("  Merkle root", checkpoint.RootHash),
            ("Audit checkpoint key id", checkpoint.KeyId),
            ("Issued", Time(certificate.IssuedAt)),
        };

        var passed = certificate.Verdict.Passed;
        return new ReportContent(
            "Unlearning certificate",
            $"Request {request.Id} · model {lineage.ModelId} · issued {Time(certificate.IssuedAt)}",
            passed,
            $"{certificate.ForgottenSamples.Count.ToString(CultureInfo.InvariantCulture)} samples forgotten with {certificate.Method}; " +
            $"{certificate.Verdict.Criteria.Count(c => c.Passed)} of {certificate.Verdict.Criteria.Count} criteria met",
            sections, metrics, criteria, signature);
    }

    public static string Time(DateTimeOffset value) =>
        value.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Six significant digits: enough that an observed value just short of its threshold never prints as the
    /// threshold itself (a p-value of 0.0499 must not read "0.05" beside "≥ 0.05").
    /// </summary>
    public static string Number(double? value) =>
        value is { } v ? v.ToString("G6", CultureInfo.InvariantCulture) : "—";
}

internal sealed record ReportSection(string Title, IReadOnlyList<(string Label, string Value)> Rows);

internal sealed record MetricRow(string Name, double? Before, double? After, string Definition, string DefinitionVersion)
{
    public string Change => Before is { } b && After is { } a ? (a - b >= 0 ? "+" : "") + ReportContent.Number(a - b) : "—";
}

internal sealed record CriterionRow(string Name, string Description, string Observed, string Rule, bool Passed);
