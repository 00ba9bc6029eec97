using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using UnlearnService.Data;

namespace UnlearnService.Features.Requests;

/// <summary>A request as the API shows it: its state and, per model, what was done.</summary>
internal sealed record RequestView(
    Guid Id, string Status, string? Phase, double Progress, string Kind, IReadOnlyList<string> Targets, int? Class, string Method,
    string? Reason, string? LegalBasis, string? ExternalReference, DateTimeOffset ReceivedAt, DateTimeOffset DueAt, DateTimeOffset? CompletedAt,
    string? FailureReason, IReadOnlyList<RequestModelView> Models)
{
    public static async Task<RequestView?> LoadAsync(UnlearnDbContext db, Guid id, CancellationToken cancellationToken)
    {
        var r = await db.DeletionRequests.AsNoTracking().SingleOrDefaultAsync(x => x.Id == id, cancellationToken);
        if (r is null) return null;
        var links = await db.RequestModels.AsNoTracking().Where(m => m.RequestId == id).OrderBy(m => m.ModelId).ToListAsync(cancellationToken);
        var runIds = links.Where(l => l.RunId is not null).Select(l => l.RunId!.Value).ToList();
        var runs = await db.Runs.AsNoTracking().Where(x => runIds.Contains(x.Id)).ToDictionaryAsync(x => x.Id, cancellationToken);
        var versionIds = runs.Values.SelectMany(x => new[] { (Guid?)x.BaseVersionId, x.OutputVersionId }).OfType<Guid>().ToList();
        var versions = await db.ModelVersions.AsNoTracking().Where(v => versionIds.Contains(v.Id)).ToDictionaryAsync(v => v.Id, cancellationToken);
        var certified = (await db.Certificates.AsNoTracking().Where(c => c.RequestId == id).Select(c => c.ModelId).ToListAsync(cancellationToken)).ToHashSet();
        return new RequestView(r.Id, r.Status, r.Phase, r.Progress, r.Kind, JsonSerializer.Deserialize<string[]>(r.TargetsJson)!, r.ClassLabel,
            r.Method, r.Reason, r.LegalBasis, r.ExternalReference, r.ReceivedAt, r.DueAt, r.CompletedAt, r.FailureReason,
            links.Select(l =>
            {
                var run = l.RunId is { } runId ? runs.GetValueOrDefault(runId) : null;
                var output = run?.OutputVersionId is { } o ? versions.GetValueOrDefault(o) : null;
                return new RequestModelView(l.ModelId, l.Status, run?.Id, run is null ? null : versions.GetValueOrDefault(run.BaseVersionId)?.Number,
                    output?.Number, output?.Id, output?.Sha256, run?.Method, run?.Status, run?.Phase, run?.Error, run?.Progress ?? 0, run?.ForgetCount, run?.RteSeconds,
                    Parse(run?.MetricsBeforeJson), Parse(run?.MetricsAfterJson), Parse(run?.VerdictJson), Parse(run?.AttemptsJson),
                    certified.Contains(l.ModelId) ? $"/v1/certificates/{r.Id}?modelId={l.ModelId}" : null);
            }).ToList());
    }

    static JsonElement? Parse(string? json) => json is null ? null : JsonDocument.Parse(json).RootElement.Clone();
}

/// <summary>One model of a request: its run and outcome, and the link to its signed certificate once issued.</summary>
internal sealed record RequestModelView(Guid ModelId, string Status, Guid? RunId, int? BaseVersion, int? OutputVersion, Guid? OutputVersionId,
    string? OutputSha256, string? Method, string? RunStatus, string? RunPhase, string? RunError, double RunProgress, int? ForgetCount, double? RteSeconds,
    JsonElement? MetricsBefore, JsonElement? MetricsAfter, JsonElement? Verdict, JsonElement? Attempts, string? Certificate);

/// <summary>A request in a list.</summary>
internal sealed record RequestSummary(Guid Id, string Status, string? Phase, double Progress, string Kind, string Method, string? ExternalReference,
    DateTimeOffset ReceivedAt, DateTimeOffset DueAt, DateTimeOffset? CompletedAt)
{
    public static RequestSummary From(DeletionRequest r) =>
        new(r.Id, r.Status, r.Phase, r.Progress, r.Kind, r.Method, r.ExternalReference, r.ReceivedAt, r.DueAt, r.CompletedAt);
}
