using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using UnlearnService.Data;
using UnlearnService.Evidence;

namespace UnlearnService.Features.Audit;

/// <summary>The latest signed checkpoint, as GET /v1/audit/verify and the checkpoint list show it.</summary>
internal sealed record CheckpointView(long TreeSize, string RootHash, string KeyId, DateTimeOffset CreatedAt, long? PreviousTreeSize,
    IReadOnlyList<string>? ConsistencyProof, JsonElement Envelope)
{
    public static CheckpointView From(AuditCheckpointRecord c) => new(c.TreeSize, c.RootHash, c.KeyId, c.CreatedAt, c.PreviousTreeSize,
        c.ConsistencyProofJson is null ? null : JsonSerializer.Deserialize<List<string>>(c.ConsistencyProofJson),
        JsonDocument.Parse(c.EnvelopeJson).RootElement.Clone());
}

/// <summary>
/// The outcome of verifying the whole audit trail. <paramref name="Problem"/> names what is wrong: a chain break
/// (EventChanged, BrokenLink, MissingSequence, Reordered, DuplicateSequence, MalformedEvent, CheckpointMismatch) or a
/// checkpoint problem (CheckpointSignature, CheckpointInconsistent); <paramref name="FirstBadSequence"/> is the first
/// event that is wrong, when one can be named.
/// </summary>
internal sealed record AuditVerificationResponse(bool Valid, string? Problem, long? FirstBadSequence, string Message, long Events,
    long VerifiedEvents, long UnchainedEvents, int CheckpointsVerified, CheckpointView? LatestCheckpoint);

internal static class AuditVerification
{
    /// <summary>
    /// Verifies every signed checkpoint (signature, its columns, the consistency proof from the one before), then
    /// the chain in sequence order against the latest checkpoint: changed, deleted and reordered events (a swap
    /// of sequence numbers changes both events' hashes) and events cut from the end of the log are all found.
    /// </summary>
    public static async Task<AuditVerificationResponse> VerifyAsync(UnlearnDbContext db, KeyRing keys, CancellationToken cancellationToken)
    {
        var unchained = await db.AuditEvents.LongCountAsync(e => e.Sequence == null, cancellationToken);
        var chained = await db.AuditEvents.LongCountAsync(e => e.Sequence != null, cancellationToken);
        var checkpoints = await db.AuditCheckpoints.AsNoTracking().OrderBy(c => c.TreeSize).ToListAsync(cancellationToken);

        AuditVerificationResponse Fail(string problem, long? sequence, string message, long verified, int checkpointsVerified) =>
            new(false, problem, sequence, message, chained, verified, unchained, checkpointsVerified, checkpoints.Count > 0 ? CheckpointView.From(checkpoints[^1]) : null);

        AuditCheckpoint? previous = null;
        for (var i = 0; i < checkpoints.Count; i++)
        {
            var row = checkpoints[i];
            var verified = AuditCheckpoint.Verify(row.EnvelopeJson, keys.VerificationKeys);
            if (!verified.IsValid)
                return Fail("CheckpointSignature", null, $"The checkpoint of {row.TreeSize} events does not verify: {verified.Message}", 0, i);
            var checkpoint = verified.Checkpoint!;
            if (checkpoint.TreeSize != row.TreeSize || checkpoint.RootHash != row.RootHash)
                return Fail("CheckpointSignature", null, $"The checkpoint row of {row.TreeSize} events differs from what its signature covers ({checkpoint.TreeSize} events, root {checkpoint.RootHash}).", 0, i);
            if (previous is not null && !Consistent(previous, checkpoint, row))
                return Fail("CheckpointInconsistent", null,
                    $"The checkpoint of {checkpoint.TreeSize} events does not extend the one of {previous.TreeSize} events: the log was rewritten between them.", 0, i);
            previous = checkpoint;
        }

        var chain = (await AuditTrail.VerifyAsync(db, cancellationToken)).Complete(previous);
        if (!chain.IsValid)
            return Fail(chain.Break.ToString(), chain.FirstBadSequence, chain.Message, chain.VerifiedEvents, checkpoints.Count);
        // Every event read verified, including any appended after the count above.
        return new AuditVerificationResponse(true, null, null,
            previous is null ? chain.Message : $"{chain.Message} The first {previous.TreeSize} match the latest signed checkpoint.",
            chain.VerifiedEvents, chain.VerifiedEvents, unchained, checkpoints.Count, checkpoints.Count > 0 ? CheckpointView.From(checkpoints[^1]) : null);
    }

    static bool Consistent(AuditCheckpoint older, AuditCheckpoint newer, AuditCheckpointRecord row)
    {
        if (row.PreviousTreeSize != older.TreeSize || row.ConsistencyProofJson is null) return false;
        if (older.TreeSize == newer.TreeSize) return older.RootHash == newer.RootHash;
        var proof = JsonSerializer.Deserialize<List<string>>(row.ConsistencyProofJson)!;
        if (proof.Any(p => p.Length != 64 || !p.All(char.IsAsciiHexDigitLower))) return false;
        return MerkleTree.VerifyConsistency(older.TreeSize, newer.TreeSize, Convert.FromHexString(older.RootHash), Convert.FromHexString(newer.RootHash),
            proof.Select(Convert.FromHexString).ToList());
    }
}
