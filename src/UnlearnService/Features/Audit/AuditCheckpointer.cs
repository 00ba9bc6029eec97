using System.Text.Json;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using UnlearnService.Data;
using UnlearnService.Evidence;
using UnlearnService.Jobs;

namespace UnlearnService.Features.Audit;

/// <summary>The audit chain is not intact; nothing is signed over it.</summary>
internal sealed class AuditTrailBrokenException(string message) : Exception(message);

/// <summary>
/// Signs checkpoints of the audit chain: periodically (a recurring job) and whenever a certificate is issued.
/// A checkpoint is signed only over a chain that verifies against the previous checkpoint, so tampering is never
/// laundered into a fresh signature; the consistency proof from the previous checkpoint is stored beside it.
/// </summary>
internal sealed class AuditCheckpointer(UnlearnDbContext db, KeyRing keys, ILogger<AuditCheckpointer> logger)
{
    public const string RecurringJobId = "audit-checkpoint";

    [Queue(JobsSetup.DefaultQueue)]
    [AutomaticRetry(Attempts = 0)]
    public async Task RunAsync(CancellationToken cancellationToken) => await CreateAsync(cancellationToken);

    /// <summary>A checkpoint covering every event committed so far: the latest one if nothing was added since, else a new one.</summary>
    /// <returns>The checkpoint, or null while the log is empty.</returns>
    /// <exception cref="AuditTrailBrokenException">The chain does not verify.</exception>
    public async Task<AuditCheckpointRecord?> CreateAsync(CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // Under the audit lock no event is appended while the log is read, hashed and signed.
        await AuditTrail.LockAsync(db, cancellationToken);
        var latest = await db.AuditCheckpoints.AsNoTracking().OrderByDescending(c => c.TreeSize).FirstOrDefaultAsync(cancellationToken);

        // Verified every time, even when nothing new is to be signed: callers rely on the checkpoint they get back.
        var previous = latest is null ? null : VerifiedCheckpoint(latest);
        var verifier = await AuditTrail.VerifyAsync(db, cancellationToken);
        var check = verifier.Complete(previous);
        if (!check.IsValid)
        {
            logger.LogCritical("Audit chain broken, no checkpoint signed: {Problem}", check.Message);
            throw new AuditTrailBrokenException(check.Message);
        }
        var leaves = verifier.LeafHashes;
        if (leaves.Count == 0) return null;
        if (latest is not null && latest.TreeSize == leaves.Count) return latest;

        var checkpoint = AuditCheckpoint.FromLeafHashes(leaves, DateTimeOffset.UtcNow);
        var proof = previous is null ? null
            : MerkleTree.ConsistencyProof(leaves, previous.TreeSize).Select(Convert.ToHexStringLower).ToList();
        var record = new AuditCheckpointRecord
        {
            TreeSize = checkpoint.TreeSize, RootHash = checkpoint.RootHash, KeyId = keys.Active.KeyId,
            EnvelopeJson = checkpoint.Sign(keys.Active).ToJson(), PreviousTreeSize = previous?.TreeSize,
            ConsistencyProofJson = proof is null ? null : JsonSerializer.Serialize(proof), CreatedAt = checkpoint.Timestamp,
        };
        db.AuditCheckpoints.Add(record);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Audit checkpoint of {TreeSize} events signed by key {KeyId}", record.TreeSize, record.KeyId);
        return record;
    }

    /// <summary>The stored checkpoint as its signature says, never as its copied columns say.</summary>
    AuditCheckpoint VerifiedCheckpoint(AuditCheckpointRecord record)
    {
        var verified = AuditCheckpoint.Verify(record.EnvelopeJson, keys.VerificationKeys);
        if (!verified.IsValid || verified.Checkpoint!.TreeSize != record.TreeSize || verified.Checkpoint.RootHash != record.RootHash)
        {
            var message = $"The stored checkpoint of {record.TreeSize} events does not verify: {verified.Message}";
            logger.LogCritical("{Problem}", message);
            throw new AuditTrailBrokenException(message);
        }
        return verified.Checkpoint;
    }
}
