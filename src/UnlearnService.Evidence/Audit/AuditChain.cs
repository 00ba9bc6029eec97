using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace UnlearnService.Evidence;

/// <summary>One audit event as stored: its fields, the previous event's hash and its own hash.</summary>
/// <param name="Sequence">Position in the log, from 1, without gaps.</param>
/// <param name="Timestamp">When it happened (hashed at microsecond precision, in UTC).</param>
/// <param name="Tenant">The tenant whose log the event belongs to, or null for an operator-wide event; hashed, so an
/// event cannot be moved between tenants' logs unnoticed.</param>
/// <param name="Actor">Who did it (an API key id, <c>system</c>, ...).</param>
/// <param name="Action">What was done (for example <c>deletion-request.created</c>).</param>
/// <param name="EntityType">The kind of entity acted on.</param>
/// <param name="EntityId">The entity's id.</param>
/// <param name="DataJson">Details as JSON; hashed in its RFC 8785 canonical form, so re-serialization (jsonb) does not matter.</param>
/// <param name="PreviousHash">The previous event's hash (<see cref="AuditChain.GenesisHash"/> for the first), lowercase hex.</param>
/// <param name="Hash">This event's hash, lowercase hex.</param>
public sealed record AuditEventRecord(
    long Sequence,
    DateTimeOffset Timestamp,
    string? Tenant,
    string Actor,
    string Action,
    string EntityType,
    string EntityId,
    string DataJson,
    string PreviousHash,
    string Hash);

/// <summary>What is wrong with an audit chain.</summary>
public enum AuditChainBreak
{
    /// <summary>The chain is intact.</summary>
    None = 0,

    /// <summary>An event's content no longer matches its hash.</summary>
    EventChanged,

    /// <summary>An event's previous hash is not its predecessor's hash (the predecessor was rewritten and re-hashed).</summary>
    BrokenLink,

    /// <summary>A sequence number is absent: an event was deleted (from the middle, or from the end when a checkpoint covers it).</summary>
    MissingSequence,

    /// <summary>Events are out of order.</summary>
    Reordered,

    /// <summary>The same sequence number occurs twice.</summary>
    DuplicateSequence,

    /// <summary>An event cannot be hashed at all (its data is not strict JSON, a hash is not hex).</summary>
    MalformedEvent,

    /// <summary>The events are intact among themselves but do not produce the signed checkpoint's root: the log was rewritten.</summary>
    CheckpointMismatch,
}

/// <summary>The outcome of verifying an audit chain.</summary>
/// <param name="Break"><see cref="AuditChainBreak.None"/> when intact; otherwise the first problem found.</param>
/// <param name="FirstBadSequence">The first sequence number that is wrong, when one can be named.</param>
/// <param name="Message">A sentence for a person.</param>
/// <param name="VerifiedEvents">How many events, from the start, verified before the problem.</param>
public sealed record AuditChainVerification(AuditChainBreak Break, long? FirstBadSequence, string Message, long VerifiedEvents)
{
    /// <summary>Whether the chain is intact.</summary>
    public bool IsValid => Break == AuditChainBreak.None;
}

/// <summary>
/// The audit log's hash chain. An event's hash is SHA-256 over the UTF-8 bytes of the RFC 8785 (JCS) canonical
/// JSON of this fixed object:
/// <code>
/// {"action": s, "actor": s, "data": &lt;data, canonical&gt;, "entityId": s, "entityType": s,
///  "format": "unlearnservice-audit-event/v2", "previousHash": hex, "sequence": n, "tenant": s | null,
///  "timestamp": "yyyy-MM-ddTHH:mm:ss.ffffffZ"}
/// </code>
/// JSON with JCS rather than a home-made byte layout, because any language has a JCS library and can recompute
/// the hash. The timestamp is UTC with exactly six fractional digits (sub-microsecond ticks dropped) because
/// PostgreSQL keeps microseconds: a hash must survive the round trip through the database.
/// </summary>
public static class AuditChain
{
    /// <summary>The previous hash of the first event: 64 zeros.</summary>
    public static readonly string GenesisHash = new('0', 64);

    /// <summary>The value of the canonical object's <c>format</c> member.</summary>
    public const string Format = "unlearnservice-audit-event/v2";

    /// <summary>The canonical bytes an event's hash is computed over.</summary>
    /// <param name="sequence">The sequence number.</param>
    /// <param name="timestamp">The timestamp.</param>
    /// <param name="tenant">The tenant, or null.</param>
    /// <param name="actor">The actor.</param>
    /// <param name="action">The action.</param>
    /// <param name="entityType">The entity type.</param>
    /// <param name="entityId">The entity id.</param>
    /// <param name="dataJson">The data JSON (parsed strictly, then canonicalized).</param>
    /// <param name="previousHash">The previous event's hash.</param>
    /// <returns>The canonical UTF-8 bytes.</returns>
    /// <exception cref="EvidenceFormatException">The data is not strict JSON.</exception>
    public static byte[] CanonicalForm(long sequence, DateTimeOffset timestamp, string? tenant, string actor, string action,
        string entityType, string entityId, string dataJson, string previousHash)
    {
        ArgumentNullException.ThrowIfNull(dataJson);
        using var data = EvidenceJson.ParseStrict(dataJson);
        var envelope = new Dictionary<string, object?>
        {
            ["action"] = action,
            ["actor"] = actor,
            ["data"] = data.RootElement,
            ["entityId"] = entityId,
            ["entityType"] = entityType,
            ["format"] = Format,
            ["previousHash"] = previousHash,
            ["sequence"] = sequence,
            ["tenant"] = tenant,
            ["timestamp"] = FormatTimestamp(timestamp),
        };
        return EvidenceJson.Canonicalize(JsonSerializer.SerializeToElement(envelope, EvidenceJson.Options));
    }

    /// <summary>The canonical timestamp: UTC, microsecond precision, <c>yyyy-MM-ddTHH:mm:ss.ffffffZ</c>.</summary>
    /// <param name="timestamp">The timestamp.</param>
    /// <returns>The text that is hashed.</returns>
    public static string FormatTimestamp(DateTimeOffset timestamp)
    {
        var utc = timestamp.UtcDateTime;
        var truncated = new DateTime(utc.Ticks - utc.Ticks % 10, DateTimeKind.Utc);
        return truncated.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
    }

    /// <summary>Computes an event's hash from its fields (its stored <see cref="AuditEventRecord.Hash"/> is ignored).</summary>
    /// <param name="e">The event.</param>
    /// <returns>Lowercase hex SHA-256.</returns>
    public static string ComputeHash(AuditEventRecord e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return Convert.ToHexStringLower(SHA256.HashData(CanonicalForm(
            e.Sequence, e.Timestamp, e.Tenant, e.Actor, e.Action, e.EntityType, e.EntityId, e.DataJson, e.PreviousHash)));
    }

    /// <summary>Creates the next event of a chain, with its sequence number, previous hash and hash filled in.</summary>
    /// <param name="previous">The last event so far, or null for the first event.</param>
    /// <param name="timestamp">When it happened.</param>
    /// <param name="tenant">Whose log, or null.</param>
    /// <param name="actor">Who.</param>
    /// <param name="action">What.</param>
    /// <param name="entityType">The entity's kind.</param>
    /// <param name="entityId">The entity's id.</param>
    /// <param name="dataJson">Details as JSON.</param>
    /// <returns>The event to store.</returns>
    public static AuditEventRecord Append(AuditEventRecord? previous, DateTimeOffset timestamp, string? tenant, string actor, string action,
        string entityType, string entityId, string dataJson)
    {
        var unsigned = new AuditEventRecord(
            previous is null ? 1 : previous.Sequence + 1, timestamp, tenant, actor, action, entityType, entityId, dataJson,
            previous?.Hash ?? GenesisHash, "");
        return unsigned with { Hash = ComputeHash(unsigned) };
    }

    /// <summary>The Merkle leaf hashes of events: each event's 32-byte hash is a leaf's data.</summary>
    /// <param name="events">The events, from sequence 1, in order.</param>
    /// <returns>The leaf hashes.</returns>
    public static List<byte[]> LeafHashes(IEnumerable<AuditEventRecord> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        return events.Select(e => MerkleTree.HashLeaf(Convert.FromHexString(e.Hash))).ToList();
    }

    /// <summary>
    /// Verifies a chain given in log order: sequence numbers consecutive from <paramref name="firstSequence"/>,
    /// each previous hash equal to the predecessor's hash, each hash equal to the recomputed one, and, when a
    /// checkpoint is given, the first <see cref="AuditCheckpoint.TreeSize"/> events producing its root (which
    /// catches deletions at the end and wholesale rewrites). Reports the first problem only.
    /// <see cref="AuditChainVerifier"/> does the same one event at a time.
    /// </summary>
    /// <param name="events">The events, in the order the log holds them.</param>
    /// <param name="checkpoint">A verified checkpoint to hold the log to, or null. Needs the chain from sequence 1.</param>
    /// <param name="firstSequence">The first event's expected sequence number (to verify a tail of the log).</param>
    /// <param name="previousHash">The hash before the first event (<see cref="GenesisHash"/> from the start).</param>
    /// <returns>The outcome.</returns>
    public static AuditChainVerification Verify(IReadOnlyList<AuditEventRecord> events, AuditCheckpoint? checkpoint = null,
        long firstSequence = 1, string? previousHash = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        var verifier = new AuditChainVerifier(firstSequence, previousHash);
        for (var i = 0; i < events.Count; i++)
        {
            if (verifier.Add(events[i]))
            {
                continue;
            }
            var failure = verifier.Complete();
            // With the whole list at hand, a gap whose event comes later is an ordering problem, not a deletion.
            if (failure.Break == AuditChainBreak.MissingSequence && events.Skip(i + 1).Any(e => e.Sequence == failure.FirstBadSequence))
            {
                return Broken(AuditChainBreak.Reordered, failure.FirstBadSequence,
                    $"Sequence {failure.FirstBadSequence} appears after sequence {events[i].Sequence}.", i);
            }
            return failure;
        }
        return verifier.Complete(checkpoint);
    }

    internal static AuditChainVerification Broken(AuditChainBreak kind, long? sequence, string message, long verified) =>
        new(kind, sequence, message, verified);
}
