using Microsoft.EntityFrameworkCore;
using UnlearnService.Data;
using UnlearnService.Evidence;

namespace UnlearnService.Features.Audit;

/// <summary>
/// The audit log as one global hash chain (the format is <see cref="AuditChain"/>'s). Events get their sequence
/// number and hashes inside the transaction that saves them, while that transaction holds the audit lock, so
/// concurrent writers append one after another and the chain never forks.
/// </summary>
internal static class AuditTrail
{
    /// <summary>Key of the PostgreSQL transaction-level advisory lock that serializes audit writers ("unlearn" + 1).</summary>
    public const long LockKey = 0x756E6C6561726E01;

    /// <summary>
    /// Takes the audit lock until the current transaction ends. PostgreSQL: an advisory lock, released at commit or
    /// rollback. SQLite: nothing to do, because EF begins SQLite transactions with BEGIN IMMEDIATE, which already
    /// holds the database's single write lock.
    /// </summary>
    public static async Task LockAsync(UnlearnDbContext db, CancellationToken cancellationToken)
    {
        if (db.Database.CurrentTransaction is null)
            throw new InvalidOperationException("The audit lock is taken inside a transaction.");
        if (db is PostgresUnlearnDbContext)
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({LockKey})", cancellationToken);
    }

    /// <summary>Appends <paramref name="added"/> to the chain: call inside the saving transaction, before the insert.</summary>
    public static async Task ChainAsync(UnlearnDbContext db, IReadOnlyList<AuditEvent> added, CancellationToken cancellationToken)
    {
        await LockAsync(db, cancellationToken);
        var tail = await db.AuditEvents.AsNoTracking().Where(e => e.Sequence != null).OrderByDescending(e => e.Sequence)
            .Select(e => new { e.Sequence, e.Hash }).FirstOrDefaultAsync(cancellationToken);
        var sequence = tail?.Sequence ?? 0;
        var previous = tail?.Hash ?? AuditChain.GenesisHash;
        foreach (var e in added)
        {
            // Hash what the database will give back: SQLite keeps 0.1 ms, PostgreSQL 1 µs; whole milliseconds survive both.
            var utc = e.Timestamp.UtcTicks;
            e.Timestamp = new DateTimeOffset(utc - utc % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);
            e.Sequence = ++sequence;
            e.PreviousHash = previous;
            e.Hash = AuditChain.ComputeHash(ToRecord(e));
            previous = e.Hash;
        }
    }

    /// <summary>
    /// Reads the chained events in sequence order and verifies them as they stream past (one query, one snapshot),
    /// holding 32 bytes per event rather than the rows. Stops reading at the first problem.
    /// </summary>
    public static async Task<AuditChainVerifier> VerifyAsync(UnlearnDbContext db, CancellationToken cancellationToken)
    {
        var verifier = new AuditChainVerifier();
        var rows = db.AuditEvents.AsNoTracking().Where(e => e.Sequence != null).OrderBy(e => e.Sequence).AsAsyncEnumerable();
        await foreach (var row in rows.WithCancellation(cancellationToken))
        {
            if (!verifier.Add(ToRecord(row))) break;
        }
        return verifier;
    }

    static AuditEventRecord ToRecord(AuditEvent e) => new(
        e.Sequence!.Value, e.Timestamp, e.TenantId?.ToString("D"), e.Actor, e.Action, e.EntityType, e.EntityId, e.DataJson ?? "null", e.PreviousHash ?? "", e.Hash ?? "");
}
