namespace UnlearnService.Evidence;

/// <summary>
/// Verifies an audit chain one event at a time, in log order, keeping only the Merkle leaf hashes (32 bytes per
/// event), so a log of any length can be checked while it is read. The checks are <see cref="AuditChain.Verify"/>'s;
/// read in sequence order (as the database gives it), an event out of order shows as the sequence missing before it.
/// </summary>
public sealed class AuditChainVerifier
{
    private readonly List<byte[]> _leaves = [];
    private readonly long _firstSequence;
    private long _expected;
    private string _expectedPrevious;
    private long? _lastSequence;
    private AuditChainVerification? _failure;

    /// <summary>Starts a verification.</summary>
    /// <param name="firstSequence">The first event's expected sequence number (to verify a tail of the log).</param>
    /// <param name="previousHash">The hash before the first event (<see cref="AuditChain.GenesisHash"/> from the start).</param>
    public AuditChainVerifier(long firstSequence = 1, string? previousHash = null)
    {
        _firstSequence = firstSequence;
        _expected = firstSequence;
        _expectedPrevious = previousHash ?? AuditChain.GenesisHash;
    }

    /// <summary>Events verified so far.</summary>
    public long VerifiedEvents { get; private set; }

    /// <summary>The Merkle leaf hashes of the verified events, in order (for checkpoints and consistency proofs).</summary>
    public IReadOnlyList<byte[]> LeafHashes => _leaves;

    /// <summary>Checks the next event. False once a problem is found; later events are then ignored.</summary>
    /// <param name="e">The event.</param>
    /// <returns>Whether the chain is intact so far.</returns>
    public bool Add(AuditEventRecord e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (_failure is not null)
        {
            return false;
        }
        _failure = Check(e);
        if (_failure is not null)
        {
            return false;
        }
        _leaves.Add(MerkleTree.HashLeaf(Convert.FromHexString(e.Hash)));
        _expectedPrevious = e.Hash;
        _lastSequence = e.Sequence;
        _expected++;
        VerifiedEvents++;
        return true;
    }

    /// <summary>
    /// The outcome: the first problem found, or, when a checkpoint is given, whether the first
    /// <see cref="AuditCheckpoint.TreeSize"/> events produce its root (which catches deletions at the end and
    /// wholesale rewrites).
    /// </summary>
    /// <param name="checkpoint">A verified checkpoint to hold the log to, or null. Needs the chain from sequence 1.</param>
    /// <returns>The outcome.</returns>
    public AuditChainVerification Complete(AuditCheckpoint? checkpoint = null)
    {
        if (_failure is not null)
        {
            return _failure;
        }
        if (checkpoint is not null)
        {
            if (_firstSequence != 1)
            {
                throw new ArgumentException("A checkpoint covers the log from sequence 1.", nameof(checkpoint));
            }
            if (VerifiedEvents < checkpoint.TreeSize)
            {
                return AuditChain.Broken(AuditChainBreak.MissingSequence, VerifiedEvents + 1,
                    $"The log ends at sequence {VerifiedEvents}, but the signed checkpoint covers {checkpoint.TreeSize} events: events were removed from the end.", VerifiedEvents);
            }
            var root = Convert.ToHexStringLower(MerkleTree.ComputeRoot(_leaves.Take((int)checkpoint.TreeSize).ToList()));
            if (root != checkpoint.RootHash)
            {
                return AuditChain.Broken(AuditChainBreak.CheckpointMismatch, null,
                    $"The first {checkpoint.TreeSize} events have Merkle root {root}, but the signed checkpoint says {checkpoint.RootHash}: the log was rewritten.", 0);
            }
        }
        return new AuditChainVerification(AuditChainBreak.None, null, $"{VerifiedEvents} events verified.", VerifiedEvents);
    }

    private AuditChainVerification? Check(AuditEventRecord e)
    {
        var verified = VerifiedEvents;
        if (e.Sequence != _expected)
        {
            return e.Sequence == _lastSequence
                ? AuditChain.Broken(AuditChainBreak.DuplicateSequence, e.Sequence, $"Sequence {e.Sequence} occurs twice.", verified)
                : e.Sequence < _expected
                    ? AuditChain.Broken(AuditChainBreak.Reordered, e.Sequence, $"Sequence {e.Sequence} appears after sequence {_expected - 1}.", verified)
                    : AuditChain.Broken(AuditChainBreak.MissingSequence, _expected, $"Sequence {_expected} is missing (the next event is {e.Sequence}).", verified);
        }
        if (!CertificateVerifier.IsSha256Hex(e.Hash) || !CertificateVerifier.IsSha256Hex(e.PreviousHash))
        {
            return AuditChain.Broken(AuditChainBreak.MalformedEvent, e.Sequence, $"Event {e.Sequence}: hash or previous hash is not 64 lowercase hex characters.", verified);
        }
        if (e.PreviousHash != _expectedPrevious)
        {
            return AuditChain.Broken(AuditChainBreak.BrokenLink, e.Sequence,
                $"Event {e.Sequence}: previous hash {e.PreviousHash} is not the hash of the event before it ({_expectedPrevious}); that event was changed and re-hashed, or this link was altered.", verified);
        }
        string recomputed;
        try
        {
            recomputed = AuditChain.ComputeHash(e);
        }
        catch (EvidenceFormatException ex)
        {
            return AuditChain.Broken(AuditChainBreak.MalformedEvent, e.Sequence, $"Event {e.Sequence}: {ex.Message}", verified);
        }
        return recomputed == e.Hash
            ? null
            : AuditChain.Broken(AuditChainBreak.EventChanged, e.Sequence,
                $"Event {e.Sequence} was changed: its content hashes to {recomputed}, but its stored hash is {e.Hash}.", verified);
    }
}
