using System.Reflection;
using System.Text.Json;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Evidence;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Models;
using UnlearnService.Features.Requests;
using UnlearnService.Features.Runs;
using EngineCriterion = UnlearnService.Engine.Evaluation.VerdictCriterion;
using EvidenceCriterion = UnlearnService.Evidence.VerdictCriterion;

namespace UnlearnService.Features.Certificates;

/// <summary>Turns a completed run's stored record into the certificate predicate; pure, so it is easy to read and test.</summary>
internal static class CertificateBuilder
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static readonly string CodeVersion =
        typeof(CertificateBuilder).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>What each metric means, in the words of ALGORITHMS.md; versioned by <see cref="UnlearningMetrics.DefinitionVersion"/>.</summary>
    static readonly Dictionary<string, string> Definitions = new()
    {
        ["UA"] = "Unlearning accuracy: 100 minus the accuracy (%) on the forget set Df; per sample, eval mode, no augmentation.",
        ["RA"] = "Accuracy (%) on the retain set Dr, the training samples not forgotten; per sample.",
        ["TA"] = "Accuracy (%) on the test set T (class forgetting: without the forgotten class); per sample.",
        ["forget-MSE"] = "Mean squared error on the forget set Df.",
        ["retain-MSE"] = "Mean squared error on the retain set Dr.",
        ["test-MSE"] = "Mean squared error on the test set T.",
        ["MIA-efficacy"] = "100 x the fraction of Df that a membership-inference attack calls non-member: an RBF SVM (C = 3, gamma = 1) on the " +
            "true-label probability (regression: the per-sample loss), fitted on n = min(|Dr|, |T|) samples of Dr (members) and of T (non-members).",
        ["MIA-shadow-accuracy"] = "The attack's accuracy (%) on its own balanced shadow sets (chance is 50); below 55 it cannot tell members from " +
            "non-members and MIA-efficacy says nothing.",
    };

    static readonly Dictionary<string, string> CriterionMeaning = new()
    {
        ["membership"] = "Membership: the attack's member rate on Df is not significantly higher than on T (one-sided two-proportion test); observed = p-value",
        ["class_forgotten"] = "Class forgetting: accuracy (%) on the forgotten class is at most chance plus a margin",
        ["test_accuracy"] = "Utility: drop of test accuracy from the base version, in points",
        ["retain_accuracy"] = "Utility: drop of retain accuracy from the base version, in points",
        ["test_mse"] = "Utility: increase of test MSE over the base version, in percent",
        ["retain_mse"] = "Utility: increase of retain MSE over the base version, in percent",
    };

    public static UnlearningCertificate Build(DeletionRequest request, UnlearningRun run, ModelVersion baseVersion, ModelVersion newVersion,
        AuditCheckpointRecord checkpoint, DateTimeOffset issuedAt)
    {
        var before = JsonSerializer.Deserialize<UnlearningMetrics>(run.MetricsBeforeJson!, Json)!;
        var after = JsonSerializer.Deserialize<UnlearningMetrics>(run.MetricsAfterJson!, Json)!;
        var verdict = JsonSerializer.Deserialize<Verdict>(run.VerdictJson!, Json)!;
        return new UnlearningCertificate(
            new CertificateRequest(request.Id.ToString(), request.ExternalReference, request.Reason ?? "not stated", request.LegalBasis ?? "not stated",
                request.ReceivedAt, request.DueAt, request.CompletedAt!.Value),
            new ForgetSetCommitment(run.ForgetCommitmentRoot!, run.ForgetCommitmentCount!.Value, SaltedIdCommitment.AlgorithmDescription),
            run.Method!,
            Hyperparameters(run.SettingsJson),
            run.Seed,
            run.Device ?? "unknown",
            CodeVersion,
            Metrics(before),
            Metrics(after),
            new CertificateVerdict(verdict.Passed, verdict.Criteria.Select(c => Criterion(c, before, after)).ToList()),
            new ModelLineage(run.ModelId.ToString(), baseVersion.Id.ToString(), baseVersion.Sha256, newVersion.Id.ToString(), newVersion.Sha256, run.Id.ToString()),
            new AuditCheckpointReference(checkpoint.TreeSize, checkpoint.RootHash, checkpoint.KeyId),
            issuedAt);
    }

    /// <summary>The resolved settings the method ran with; the seed has a field of its own, unused settings are null and left out.</summary>
    static Dictionary<string, JsonElement> Hyperparameters(string? settingsJson)
    {
        var result = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (settingsJson is null) return result;
        using var settings = JsonDocument.Parse(settingsJson);
        foreach (var property in settings.RootElement.EnumerateObject())
        {
            if (property.Name != "seed" && property.Value.ValueKind != JsonValueKind.Null) result[property.Name] = property.Value.Clone();
        }
        return result;
    }

    static List<CertificateMetric> Metrics(UnlearningMetrics m)
    {
        var values = new List<(string Name, double? Value)>
        {
            ("UA", m.UnlearningAccuracy), ("RA", m.RetainAccuracy), ("TA", m.TestAccuracy),
            ("forget-MSE", m.ForgetMse), ("retain-MSE", m.RetainMse), ("test-MSE", m.TestMse),
            ("MIA-efficacy", m.Mia.Efficacy), ("MIA-shadow-accuracy", m.Mia.ShadowAccuracy),
        };
        // A metric that does not apply (accuracies of a regression) or could not be computed is left out, not faked.
        return values.Where(v => v.Value is { } x && double.IsFinite(x))
            .Select(v => new CertificateMetric(v.Name, v.Value!.Value, Definitions[v.Name], UnlearningMetrics.DefinitionVersion)).ToList();
    }

    /// <summary>
    /// The engine's criterion with its comparison made explicit. An inconclusive membership test (the attack was
    /// uninformative before and after, so the engine does not count it) becomes the criterion that was in fact
    /// applied: the attack's best shadow accuracy is below the informativeness threshold.
    /// </summary>
    static EvidenceCriterion Criterion(EngineCriterion c, UnlearningMetrics before, UnlearningMetrics after)
    {
        if (c.Outcome == CriterionOutcome.Inconclusive)
        {
            var shadow = Math.Max(before.Mia.ShadowAccuracy, after.Mia.ShadowAccuracy);
            var limit = new MiaOptions().UninformativeBelowPercent;
            return new EvidenceCriterion($"{c.Name}_inconclusive",
                $"Membership test not counted: {c.Explanation}. Observed = the attack's best shadow accuracy (%) before or after; " +
                $"the test (p = {c.Value:G4}, needs at least {c.Threshold:G4}) applies only once the attack reaches {limit:G4}%.",
                shadow, ThresholdComparison.AtMost, limit, shadow <= limit);
        }
        var comparison = c.Name == "membership" ? ThresholdComparison.AtLeast : ThresholdComparison.AtMost;
        var meaning = CriterionMeaning.GetValueOrDefault(c.Name, c.Name);
        return new EvidenceCriterion(c.Name, $"{meaning}. {c.Explanation}", c.Value, comparison, c.Threshold, c.Outcome == CriterionOutcome.Pass);
    }
}
