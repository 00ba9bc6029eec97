using System.Text;
using UnlearnService.Evidence;

namespace UnlearnService.Evidence.Tests;

public sealed class AuditChainTests
{
    private static List<AuditEventRecord> Chain(int count)
    {
        var events = new List<AuditEventRecord>();
        var start = new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < count; i++)
        {
            events.Add(AuditChain.Append(events.LastOrDefault(), start.AddSeconds(i), i % 2 == 0 ? "0f8fad5b-d9cb-469f-a165-70867728950e" : null, "key:ops", "deletion-request.created",
                "DeletionRequest", $"dr-{i}", $$$"""{"subjects": ["u-{{{i}}}"], "models": {"m": 1}}"""));
        }
        return events;
    }

    [Fact]
    public void CanonicalForm_KnownEvent_IsTheDocumentedJcsObject()
    {
        var timestamp = new DateTimeOffset(2025, 3, 1, 13, 0, 0, TimeSpan.FromHours(1)).AddTicks(1234567);

        var canonical = Encoding.UTF8.GetString(AuditChain.CanonicalForm(7, timestamp, "0f8fad5b-d9cb-469f-a165-70867728950e", "key:ops", "run.completed", "Run", "r-1",
            """{ "z": 1.50, "a": ["é", null] }""", AuditChain.GenesisHash));

        Assert.Equal(
            """{"action":"run.completed","actor":"key:ops","data":{"a":["é",null],"z":1.5},"entityId":"r-1","entityType":"Run","format":"unlearnservice-audit-event/v2","previousHash":"0000000000000000000000000000000000000000000000000000000000000000","sequence":7,"tenant":"0f8fad5b-d9cb-469f-a165-70867728950e","timestamp":"2025-03-01T12:00:00.123456Z"}""",
            canonical);
    }

    [Fact]
    public void ComputeHash_DataReserializedLikeJsonb_SameHash()
    {
        var e = Chain(1)[0];
        var reserialized = e with { DataJson = """{"models":{"m":1},"subjects":["u-0"]}""" };

        Assert.Equal(e.Hash, AuditChain.ComputeHash(reserialized));
    }

    [Fact]
    public void Verify_IntactChain_Valid()
    {
        var result = AuditChain.Verify(Chain(6));

        Assert.True(result.IsValid, result.Message);
        Assert.Equal(6, result.VerifiedEvents);
    }

    [Fact]
    public void Verify_ChangedEventData_FirstBadIsThatEvent()
    {
        var events = Chain(6);
        events[3] = events[3] with { DataJson = """{"subjects":["someone-else"],"models":{"m":1}}""" };

        var result = AuditChain.Verify(events);

        Assert.Equal(AuditChainBreak.EventChanged, result.Break);
        Assert.Equal(4, result.FirstBadSequence);
        Assert.Equal(3, result.VerifiedEvents);
    }

    [Theory]
    [InlineData(2, "7c9e6679-7425-40de-944b-e07fc1f90ae7")]
    [InlineData(2, null)]
    [InlineData(3, "0f8fad5b-d9cb-469f-a165-70867728950e")]
    public void Verify_EventMovedToAnotherTenant_FirstBadIsThatEvent(int index, string? tenant)
    {
        var events = Chain(6);
        events[index] = events[index] with { Tenant = tenant };

        var result = AuditChain.Verify(events);

        Assert.Equal(AuditChainBreak.EventChanged, result.Break);
        Assert.Equal(index + 1, result.FirstBadSequence);
    }

    [Fact]
    public void Verify_ChangedTimestampBySubMicrosecond_StillValid()
    {
        // PostgreSQL keeps microseconds; a round trip that drops the last tick digit must not break the chain.
        var events = Chain(2);
        events[0] = events[0] with { Timestamp = events[0].Timestamp.AddTicks(3) };

        Assert.True(AuditChain.Verify(events).IsValid);
    }

    [Fact]
    public void Verify_ChangedAndRehashedEvent_BrokenLinkAtTheNextEvent()
    {
        var events = Chain(6);
        var changed = events[2] with { Actor = "key:intruder" };
        events[2] = changed with { Hash = AuditChain.ComputeHash(changed) };

        var result = AuditChain.Verify(events);

        Assert.Equal(AuditChainBreak.BrokenLink, result.Break);
        Assert.Equal(4, result.FirstBadSequence);
    }

    [Fact]
    public void Verify_DeletedEventInTheMiddle_MissingSequence()
    {
        var events = Chain(6);
        events.RemoveAt(2);

        var result = AuditChain.Verify(events);

        Assert.Equal(AuditChainBreak.MissingSequence, result.Break);
        Assert.Equal(3, result.FirstBadSequence);
    }

    [Fact]
    public void Verify_SwappedEvents_Reordered()
    {
        var events = Chain(6);
        (events[2], events[3]) = (events[3], events[2]);

        var result = AuditChain.Verify(events);

        Assert.Equal(AuditChainBreak.Reordered, result.Break);
        Assert.Equal(3, result.FirstBadSequence);
    }

    [Fact]
    public void Verify_EventRepeated_DuplicateSequence()
    {
        var events = Chain(4);
        events.Insert(2, events[1]);

        var result = AuditChain.Verify(events);

        Assert.Equal(AuditChainBreak.DuplicateSequence, result.Break);
        Assert.Equal(2, result.FirstBadSequence);
    }

    [Fact]
    public void Verify_DataNotJson_MalformedEvent()
    {
        var events = Chain(3);
        events[1] = events[1] with { DataJson = "{not json" };

        var result = AuditChain.Verify(events);

        Assert.Equal(AuditChainBreak.MalformedEvent, result.Break);
        Assert.Equal(2, result.FirstBadSequence);
    }

    [Fact]
    public void Verify_TailOfLog_ChecksFromGivenSequenceAndHash()
    {
        var events = Chain(6);

        var result = AuditChain.Verify(events.Skip(3).ToList(), firstSequence: 4, previousHash: events[2].Hash);

        Assert.True(result.IsValid, result.Message);
    }

    [Fact]
    public void Verify_EventsDeletedFromTheEndUnderACheckpoint_MissingSequence()
    {
        var events = Chain(6);
        var checkpoint = AuditCheckpoint.Create(events, DateTimeOffset.UtcNow);

        var result = AuditChain.Verify(events.Take(4).ToList(), checkpoint);

        Assert.True(AuditChain.Verify(events.Take(4).ToList()).IsValid); // invisible without a checkpoint
        Assert.Equal(AuditChainBreak.MissingSequence, result.Break);
        Assert.Equal(5, result.FirstBadSequence);
    }

    [Fact]
    public void Verify_WholeLogRewrittenUnderACheckpoint_CheckpointMismatch()
    {
        var original = Chain(4);
        var checkpoint = AuditCheckpoint.Create(original, DateTimeOffset.UtcNow);
        var rewritten = new List<AuditEventRecord>();
        foreach (var e in original)
        {
            rewritten.Add(AuditChain.Append(rewritten.LastOrDefault(), e.Timestamp, e.Tenant, "key:intruder", e.Action, e.EntityType, e.EntityId, e.DataJson));
        }

        var result = AuditChain.Verify(rewritten, checkpoint);

        Assert.True(AuditChain.Verify(rewritten).IsValid);
        Assert.Equal(AuditChainBreak.CheckpointMismatch, result.Break);
        Assert.True(AuditChain.Verify(original.Append(AuditChain.Append(original[^1], DateTimeOffset.UtcNow, null, "a", "b", "c", "d", "{}")).ToList(), checkpoint).IsValid);
    }

    [Fact]
    public void Checkpoint_SignedAndVerified_RoundTripsAndMatchesMerkleRoot()
    {
        using var key = SigningKey.Generate();
        var events = Chain(5);
        var checkpoint = AuditCheckpoint.Create(events, new DateTimeOffset(2025, 3, 2, 0, 0, 0, TimeSpan.Zero));

        var envelope = checkpoint.Sign(key);
        var result = AuditCheckpoint.Verify(envelope.ToJson(), new KeySet([key.PublicKey]));

        Assert.Equal(AuditCheckpoint.PayloadType, envelope.PayloadType);
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(checkpoint, result.Checkpoint);
        var leaves = events.Select(e => MerkleTree.HashLeaf(Convert.FromHexString(e.Hash))).ToList();
        Assert.Equal(Convert.ToHexStringLower(MerkleTree.ComputeRoot(leaves)), result.Checkpoint!.RootHash);
    }

    [Fact]
    public void Checkpoint_LaterCheckpoint_ConsistencyProofShowsItExtendsTheEarlier()
    {
        var events = Chain(9);
        var early = AuditCheckpoint.Create(events.Take(5).ToList(), DateTimeOffset.UnixEpoch);
        var late = AuditCheckpoint.Create(events, DateTimeOffset.UnixEpoch);

        var proof = MerkleTree.ConsistencyProof(AuditChain.LeafHashes(events), early.TreeSize);

        Assert.True(MerkleTree.VerifyConsistency(early.TreeSize, late.TreeSize,
            Convert.FromHexString(early.RootHash), Convert.FromHexString(late.RootHash), proof));
    }

    [Fact]
    public void Checkpoint_CertificateEnvelopeOfferedAsCheckpoint_WrongPayloadType()
    {
        using var key = SigningKey.Generate();
        var certificate = CertificateIssuer.Sign(TestData.Certificate(), key).ToJson();

        var result = AuditCheckpoint.Verify(certificate, new KeySet([key.PublicKey]));

        Assert.Equal(EvidenceError.WrongPayloadType, result.Error);
    }

    [Fact]
    public void Checkpoint_PayloadWithExtraMember_SchemaViolation()
    {
        using var key = SigningKey.Generate();
        var payload = """{"rootHash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","timestamp":"2025-03-02T00:00:00+00:00","treeSize":1,"note":"x"}"""u8;

        var result = AuditCheckpoint.Verify(Dsse.Sign(AuditCheckpoint.PayloadType, payload, key).ToJson(), new KeySet([key.PublicKey]));

        Assert.Equal(EvidenceError.SchemaViolation, result.Error);
    }
}

public sealed class AuditChainVerifierTests
{
    private static List<AuditEventRecord> Chain(int count)
    {
        var events = new List<AuditEventRecord>();
        for (var i = 0; i < count; i++)
        {
            events.Add(AuditChain.Append(events.LastOrDefault(), DateTimeOffset.UnixEpoch.AddMinutes(i), null, "system", "run.completed", "Run", $"r-{i}", "{}"));
        }
        return events;
    }

    [Fact]
    public void Add_IntactChain_SameLeavesAndCheckpointAsTheWholeList()
    {
        var events = Chain(9);
        var verifier = new AuditChainVerifier();

        Assert.All(events, e => Assert.True(verifier.Add(e)));

        Assert.Equal(AuditChain.LeafHashes(events), verifier.LeafHashes);
        var checkpoint = AuditCheckpoint.FromLeafHashes(verifier.LeafHashes, DateTimeOffset.UnixEpoch);
        Assert.Equal(AuditCheckpoint.Create(events, DateTimeOffset.UnixEpoch), checkpoint);
        var result = verifier.Complete(checkpoint);
        Assert.True(result.IsValid, result.Message);
        Assert.Equal(9, result.VerifiedEvents);
    }

    [Fact]
    public void Add_AfterAChangedEvent_StopsAndReportsThatEvent()
    {
        var events = Chain(6);
        events[3] = events[3] with { Actor = "key:intruder" };
        var verifier = new AuditChainVerifier();

        var accepted = events.Select(verifier.Add).ToList();

        Assert.Equal([true, true, true, false, false, false], accepted);
        var result = verifier.Complete();
        Assert.Equal((AuditChainBreak.EventChanged, 4L, 3L), (result.Break, result.FirstBadSequence, result.VerifiedEvents));
        Assert.Equal(AuditChain.Verify(events), result);
    }

    [Fact]
    public void Complete_LogShorterThanCheckpoint_ReportsTheFirstMissingSequence()
    {
        var events = Chain(6);
        var checkpoint = AuditCheckpoint.Create(events, DateTimeOffset.UnixEpoch);
        var verifier = new AuditChainVerifier();
        foreach (var e in events.Take(5)) verifier.Add(e);

        var result = verifier.Complete(checkpoint);

        Assert.Equal((AuditChainBreak.MissingSequence, 6L), (result.Break, result.FirstBadSequence));
    }

    [Fact]
    public void Add_GapInSequence_ReportsItMissingWithoutLookingAhead()
    {
        var events = Chain(6);
        var verifier = new AuditChainVerifier();
        foreach (var e in events.Where(e => e.Sequence != 3)) verifier.Add(e);

        var result = verifier.Complete();

        Assert.Equal((AuditChainBreak.MissingSequence, 3L, 2L), (result.Break, result.FirstBadSequence, result.VerifiedEvents));
    }
}
