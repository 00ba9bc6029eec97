using Hangfire;
using Microsoft.EntityFrameworkCore;
using UnlearnService.Data;
using UnlearnService.Evidence;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Requests;
using UnlearnService.Jobs;

namespace UnlearnService.Features.Certificates;

/// <summary>
/// Issues the certificates of a completed request: one per model the request completed on. A follow-up job rather
/// than part of the run's commit, because the certificate names the signed audit checkpoint at issue time, which
/// must cover the request's completion; the run's commit stays small and never waits for a checkpoint. The
/// evidence it reads (metrics, verdict, versions, the forgotten-id commitment) was fixed by that commit.
/// Re-entrant: certificates already issued are skipped, and the unique (request, model) index stops a concurrent
/// second execution; start-up recovery re-issues the job for completed requests that lack a certificate.
/// </summary>
internal sealed class CertificateJob(UnlearnDbContext db, AuditCheckpointer checkpointer, KeyRing keys, ILogger<CertificateJob> logger)
{
    [Queue(JobsSetup.DefaultQueue)]
    [AutomaticRetry(Attempts = 3, DelaysInSeconds = [5, 30, 120])]
    public async Task IssueAsync(Guid requestId, CancellationToken cancellationToken)
    {
        var request = await db.DeletionRequests.AsNoTracking().SingleOrDefaultAsync(r => r.Id == requestId, cancellationToken);
        if (request is null || request.Status != RequestStatus.Completed) return;
        var issued = await db.Certificates.Where(c => c.RequestId == requestId).Select(c => c.ModelId).ToListAsync(cancellationToken);
        var links = await db.RequestModels.AsNoTracking()
            .Where(l => l.RequestId == requestId && l.Status == RequestStatus.Completed && l.RunId != null && !issued.Contains(l.ModelId))
            .ToListAsync(cancellationToken);
        if (links.Count == 0) return;

        var checkpoint = await checkpointer.CreateAsync(cancellationToken)
            ?? throw new InvalidOperationException("The audit log is empty, yet a request completed.");
        var now = DateTimeOffset.UtcNow;
        foreach (var link in links)
        {
            var run = await db.Runs.AsNoTracking().SingleAsync(r => r.Id == link.RunId, cancellationToken);
            var versions = await db.ModelVersions.AsNoTracking().Where(v => v.Id == run.BaseVersionId || v.Id == run.OutputVersionId)
                .ToDictionaryAsync(v => v.Id, cancellationToken);
            var certificate = CertificateBuilder.Build(request, run, versions[run.BaseVersionId], versions[run.OutputVersionId!.Value], checkpoint, now);
            var envelope = CertificateIssuer.Sign(certificate, keys.Active);
            db.Certificates.Add(new CertificateRecord
            {
                Id = Guid.NewGuid(), TenantId = request.TenantId, RequestId = request.Id, ModelId = link.ModelId, RunId = run.Id,
                KeyId = keys.Active.KeyId, EnvelopeJson = envelope.ToJson(), IssuedAt = now,
            });
            db.Record(request.TenantId, "system", "certificate.issued", "deletion_request", request.Id,
                new { modelId = link.ModelId, runId = run.Id, keyId = keys.Active.KeyId, auditTreeSize = checkpoint.TreeSize });
        }
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            logger.LogInformation("Issued {Count} certificate(s) for request {RequestId}", links.Count, requestId);
        }
        catch (DbUpdateException)
        {
            // The unique (request, model) index: another execution got there first. Anything else goes to Hangfire's retry.
            db.ChangeTracker.Clear();
            if (await db.Certificates.CountAsync(c => c.RequestId == requestId, cancellationToken) < links.Count + issued.Count) throw;
            logger.LogInformation("Certificates of request {RequestId} were issued by another execution", requestId);
        }
    }
}
