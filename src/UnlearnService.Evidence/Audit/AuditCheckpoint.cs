namespace UnlearnService.Evidence;

/// <summary>
/// A signed statement of the audit log's state: its size and the RFC 9162 Merkle root over the event hashes
/// (each event's 32-byte hash is a leaf's data). Published checkpoints pin the log: deleting or rewriting any
/// covered event changes the root, and consistency proofs (<see cref="MerkleTree.VerifyConsistency"/>) show that a
/// later checkpoint extends an earlier one.
/// </summary>
/// <param name="TreeSize">How many events, from sequence 1, are covered.</param>
/// <param name="RootHash">The Merkle root, lowercase hex.</param>
/// <param name="Timestamp">When the checkpoint was made.</param>
public sealed record AuditCheckpoint(long TreeSize, string RootHash, DateTimeOffset Timestamp)
{
    /// <summary>The DSSE payloadType of a checkpoint.</summary>
    public const string PayloadType = "application/vnd.unlearnservice.checkpoint+json";

    /// <summary>Makes the checkpoint of a log.</summary>
    /// <param name="events">The events from sequence 1, in order (verify them first).</param>
    /// <param name="timestamp">When.</param>
    /// <returns>The checkpoint.</returns>
    public static AuditCheckpoint Create(IReadOnlyList<AuditEventRecord> events, DateTimeOffset timestamp) =>
        FromLeafHashes(AuditChain.LeafHashes(events), timestamp);

    /// <summary>Makes the checkpoint of a log from its Merkle leaf hashes (<see cref="AuditChainVerifier.LeafHashes"/>).</summary>
    /// <param name="leafHashes">The leaf hashes of the events from sequence 1, in order.</param>
    /// <param name="timestamp">When.</param>
    /// <returns>The checkpoint.</returns>
    public static AuditCheckpoint FromLeafHashes(IReadOnlyList<byte[]> leafHashes, DateTimeOffset timestamp)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        return new AuditCheckpoint(leafHashes.Count, Convert.ToHexStringLower(MerkleTree.ComputeRoot(leafHashes)), timestamp);
    }

    /// <summary>Signs the checkpoint: its RFC 8785 canonical JSON in a DSSE envelope.</summary>
    /// <param name="key">The active signing key.</param>
    /// <returns>The envelope.</returns>
    public DsseEnvelope Sign(SigningKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Dsse.Sign(PayloadType, EvidenceJson.SerializeCanonical(this), key);
    }

    /// <summary>Verifies a signed checkpoint (strict envelope, payloadType, trusted key, strict payload).</summary>
    /// <param name="envelopeJson">The envelope JSON.</param>
    /// <param name="trustedKeys">The keys to trust.</param>
    /// <returns>The outcome, with the checkpoint when valid.</returns>
    public static CheckpointVerification Verify(string envelopeJson, KeySet trustedKeys)
    {
        var result = Dsse.Verify(envelopeJson, PayloadType, trustedKeys);
        if (!result.IsValid)
        {
            return new CheckpointVerification(result.Error, result.Message, null, null);
        }
        AuditCheckpoint checkpoint;
        try
        {
            checkpoint = EvidenceJson.Deserialize<AuditCheckpoint>(result.Payload);
        }
        catch (EvidenceFormatException e)
        {
            return new CheckpointVerification(e.Error, "The payload is not a checkpoint: " + e.Message, null, null);
        }
        if (checkpoint.TreeSize < 0 || !CertificateVerifier.IsSha256Hex(checkpoint.RootHash))
        {
            return new CheckpointVerification(EvidenceError.Inconsistent, "The checkpoint's size is negative or its root is not 64 lowercase hex characters.", null, null);
        }
        return new CheckpointVerification(EvidenceError.None, $"Checkpoint of {checkpoint.TreeSize} events, signed by key {result.Key!.KeyId}.", checkpoint, result.Key);
    }
}

/// <summary>The outcome of verifying a signed checkpoint.</summary>
/// <param name="Error"><see cref="EvidenceError.None"/> when valid.</param>
/// <param name="Message">A sentence for a person.</param>
/// <param name="Checkpoint">The checkpoint, only when valid.</param>
/// <param name="Key">The key that signed it, only when valid.</param>
public sealed record CheckpointVerification(EvidenceError Error, string Message, AuditCheckpoint? Checkpoint, VerificationKey? Key)
{
    /// <summary>Whether the checkpoint verified.</summary>
    public bool IsValid => Error == EvidenceError.None;
}
