using System.Text.Json;

namespace UnlearnService.Evidence;

/// <summary>
/// The predicate of an unlearning certificate (predicateType <see cref="PredicateType"/>): what was forgotten,
/// how, with what result, and where it sits in the model's lineage and the audit log. The statement's two
/// subjects are the model versions before and after, by SHA-256 of their weights file.
/// </summary>
/// <param name="Request">The deletion request that the run served.</param>
/// <param name="ForgottenSamples">A commitment to the forgotten sample ids; the ids themselves never appear.</param>
/// <param name="Method">The unlearning method (for example <c>ssd</c>, <c>salun</c>).</param>
/// <param name="Hyperparameters">The method's resolved hyperparameters, name → JSON value.</param>
/// <param name="Seed">The random seed of the run.</param>
/// <param name="Device">The device the run used (for example <c>cuda:0</c>, <c>cpu</c>).</param>
/// <param name="CodeVersion">The service's version (for example a git commit) that ran it.</param>
/// <param name="MetricsBefore">Metrics of the base version.</param>
/// <param name="MetricsAfter">Metrics of the new version.</param>
/// <param name="Verdict">Pass or fail against declared thresholds.</param>
/// <param name="Lineage">Base and new model versions, by id and digest, and the run.</param>
/// <param name="AuditCheckpoint">The signed audit-log checkpoint in force when the certificate was issued.</param>
/// <param name="IssuedAt">When the certificate was issued.</param>
public sealed record UnlearningCertificate(
    CertificateRequest Request,
    ForgetSetCommitment ForgottenSamples,
    string Method,
    IReadOnlyDictionary<string, JsonElement> Hyperparameters,
    long Seed,
    string Device,
    string CodeVersion,
    IReadOnlyList<CertificateMetric> MetricsBefore,
    IReadOnlyList<CertificateMetric> MetricsAfter,
    CertificateVerdict Verdict,
    ModelLineage Lineage,
    AuditCheckpointReference AuditCheckpoint,
    DateTimeOffset IssuedAt)
{
    /// <summary>The in-toto predicateType of an unlearning certificate.</summary>
    public const string PredicateType = "https://unlearnservice.dev/unlearning-certificate/v1";

    /// <summary>The subject name of the base (pre-unlearning) model version.</summary>
    /// <param name="versionId">The model version id.</param>
    /// <returns><c>model-version:&lt;id&gt;:before</c>.</returns>
    public static string BeforeSubjectName(string versionId) => $"model-version:{versionId}:before";

    /// <summary>The subject name of the new (unlearned) model version.</summary>
    /// <param name="versionId">The model version id.</param>
    /// <returns><c>model-version:&lt;id&gt;:after</c>.</returns>
    public static string AfterSubjectName(string versionId) => $"model-version:{versionId}:after";
}

/// <summary>The deletion request a certificate answers.</summary>
/// <param name="Id">The request id in the service.</param>
/// <param name="ExternalReference">The caller's own reference (a ticket number), if given.</param>
/// <param name="Reason">Why the data must be forgotten.</param>
/// <param name="LegalBasis">The legal basis (for example <c>GDPR Art. 17(1)(b)</c>).</param>
/// <param name="ReceivedAt">When the request was received.</param>
/// <param name="DueAt">The deadline (GDPR Art. 12(3): one month from receipt).</param>
/// <param name="CompletedAt">When the request was completed.</param>
public sealed record CertificateRequest(
    string Id,
    string? ExternalReference,
    string Reason,
    string LegalBasis,
    DateTimeOffset ReceivedAt,
    DateTimeOffset DueAt,
    DateTimeOffset CompletedAt);

/// <summary>
/// A commitment to the set of forgotten sample ids (see <see cref="SaltedIdCommitment"/>): the root of an RFC 9162
/// Merkle tree over salted id hashes. The salt stays with the service, so the ids cannot be guessed from the
/// certificate, while the service can later prove that a given id was (or was not) in the set.
/// </summary>
/// <param name="MerkleRoot">The Merkle root, lowercase hex.</param>
/// <param name="Count">How many distinct ids were committed to.</param>
/// <param name="HashAlgorithm">How the root was computed, in words (<see cref="SaltedIdCommitment.AlgorithmDescription"/>).</param>
public sealed record ForgetSetCommitment(string MerkleRoot, long Count, string HashAlgorithm);

/// <summary>One measured metric, with its definition so that a number is never read without its meaning.</summary>
/// <param name="Name">The metric's short name (for example <c>UA</c>, <c>RA</c>, <c>TA</c>, <c>MIA-efficacy</c>).</param>
/// <param name="Value">The value.</param>
/// <param name="Definition">What the metric measures and how, in words.</param>
/// <param name="DefinitionVersion">The version of that definition, so that changed definitions are visible.</param>
public sealed record CertificateMetric(string Name, double Value, string Definition, string DefinitionVersion);

/// <summary>The verdict: passed only when every criterion passed.</summary>
/// <param name="Passed">Whether the run passed.</param>
/// <param name="Criteria">The criteria checked, each with its threshold.</param>
public sealed record CertificateVerdict(bool Passed, IReadOnlyList<VerdictCriterion> Criteria);

/// <summary>One verdict criterion: an observed value compared with a declared threshold.</summary>
/// <param name="Name">The criterion's name (for example <c>membership</c>, <c>utility-ta</c>).</param>
/// <param name="Description">What it checks, in words.</param>
/// <param name="Observed">The observed value.</param>
/// <param name="Comparison">How the observed value must relate to the threshold.</param>
/// <param name="Threshold">The declared threshold.</param>
/// <param name="Passed">Whether the criterion held.</param>
public sealed record VerdictCriterion(
    string Name,
    string Description,
    double Observed,
    ThresholdComparison Comparison,
    double Threshold,
    bool Passed)
{
    /// <summary>Whether <see cref="Observed"/> satisfies the threshold.</summary>
    /// <returns>The comparison's result.</returns>
    public bool Holds() => Comparison switch
    {
        ThresholdComparison.AtMost => Observed <= Threshold,
        ThresholdComparison.AtLeast => Observed >= Threshold,
        _ => false,
    };
}

/// <summary>How an observed value must relate to its threshold.</summary>
/// <remarks>Written as <c>"atMost"</c> / <c>"atLeast"</c> by <see cref="EvidenceJson.Options"/>; numbers are rejected.</remarks>
public enum ThresholdComparison
{
    /// <summary>observed ≤ threshold.</summary>
    AtMost,

    /// <summary>observed ≥ threshold.</summary>
    AtLeast,
}

/// <summary>Where the certificate sits in the model's lineage.</summary>
/// <param name="ModelId">The model.</param>
/// <param name="BaseVersionId">The version the run started from.</param>
/// <param name="BaseSha256">SHA-256 of the base version's weights file, lowercase hex.</param>
/// <param name="NewVersionId">The version the run produced.</param>
/// <param name="NewSha256">SHA-256 of the new version's weights file, lowercase hex.</param>
/// <param name="RunId">The unlearning run.</param>
public sealed record ModelLineage(
    string ModelId,
    string BaseVersionId,
    string BaseSha256,
    string NewVersionId,
    string NewSha256,
    string RunId);

/// <summary>The audit-log checkpoint in force at issue time: the log's size and Merkle root, and who signed it.</summary>
/// <param name="TreeSize">Number of audit events covered.</param>
/// <param name="RootHash">The RFC 9162 Merkle root over the event hashes, lowercase hex.</param>
/// <param name="KeyId">The id of the key that signed the checkpoint.</param>
public sealed record AuditCheckpointReference(long TreeSize, string RootHash, string KeyId);
