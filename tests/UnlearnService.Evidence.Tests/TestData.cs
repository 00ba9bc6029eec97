using System.Text.Json;
using UnlearnService.Evidence;

namespace UnlearnService.Evidence.Tests;

/// <summary>A realistic certificate and keys shared by the tests; every test builds its own copies.</summary>
internal static class TestData
{
    public const string BaseSha = "1111111111111111111111111111111111111111111111111111111111111111";
    public const string NewSha = "2222222222222222222222222222222222222222222222222222222222222222";

    public static UnlearningCertificate Certificate(bool passed = true)
    {
        var received = new DateTimeOffset(2025, 3, 1, 9, 30, 0, TimeSpan.Zero);
        var salt = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var membershipObserved = passed ? 0.41 : 0.012;
        return new UnlearningCertificate(
            new CertificateRequest("dr-7f3a", "TICKET-1042", "Data subject withdrew consent", "GDPR Art. 17(1)(b)",
                received, received.AddMonths(1), received.AddDays(2)),
            SaltedIdCommitment.Commit(["s-1", "s-2", "s-3", "s-40"], salt),
            "ssd",
            new Dictionary<string, JsonElement>
            {
                ["alpha"] = JsonSerializer.SerializeToElement(10),
                ["lambda"] = JsonSerializer.SerializeToElement(1.0),
                ["labelFree"] = JsonSerializer.SerializeToElement(false),
            },
            42,
            "cuda:0",
            "git:8bdf063",
            [
                new CertificateMetric("UA", 1.25, "100 - accuracy on the forget set", "v1"),
                new CertificateMetric("RA", 99.1, "accuracy on the retain set", "v1"),
                new CertificateMetric("TA", 98.7, "accuracy on the test set", "v1"),
                new CertificateMetric("MIA-efficacy", 3.5, "share of the forget set an RBF-SVM attack calls non-member (x100)", "v1"),
            ],
            [
                new CertificateMetric("UA", 7.75, "100 - accuracy on the forget set", "v1"),
                new CertificateMetric("RA", 98.6, "accuracy on the retain set", "v1"),
                new CertificateMetric("TA", 98.2, "accuracy on the test set", "v1"),
                new CertificateMetric("MIA-efficacy", 21.0, "share of the forget set an RBF-SVM attack calls non-member (x100)", "v1"),
            ],
            new CertificateVerdict(passed,
            [
                new VerdictCriterion("membership", "Two-proportion test: MIA member rate on Df vs T, p-value",
                    membershipObserved, ThresholdComparison.AtLeast, 0.05, passed),
                new VerdictCriterion("utility-ta", "Drop of test accuracy from the base version, points", 0.5, ThresholdComparison.AtMost, 2, true),
                new VerdictCriterion("utility-ra", "Drop of retain accuracy from the base version, points", 0.5, ThresholdComparison.AtMost, 2, true),
            ]),
            new ModelLineage("model-mnist-cnn", "v1", BaseSha, "v2", NewSha, "run-19"),
            new AuditCheckpointReference(128, new string('a', 64), "checkpoint-key"),
            received.AddDays(2).AddMinutes(5));
    }
}
