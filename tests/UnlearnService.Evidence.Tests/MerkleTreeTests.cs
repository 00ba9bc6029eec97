using System.Security.Cryptography;
using UnlearnService.Evidence;

namespace UnlearnService.Evidence.Tests;

public sealed class MerkleTreeTests
{
    // The RFC 6962 reference leaves and tree heads used by Certificate Transparency implementations.
    private static readonly string[] ReferenceLeaves =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    private static readonly string[] ReferenceRoots =
    [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    private static List<byte[]> Reference(int n) =>
        ReferenceLeaves.Take(n).Select(h => MerkleTree.HashLeaf(Convert.FromHexString(h))).ToList();

    [Fact]
    public void ComputeRoot_ReferenceVectors_MatchEverySize()
    {
        for (var n = 0; n <= ReferenceLeaves.Length; n++)
        {
            Assert.Equal(ReferenceRoots[n], Convert.ToHexStringLower(MerkleTree.ComputeRoot(Reference(n))));
        }
    }

    [Fact]
    public void ComputeRoot_HandComputedTrees_UseDomainSeparationAndPowerOfTwoSplit()
    {
        static byte[] H(params byte[][] parts) => SHA256.HashData(parts.SelectMany(p => p).ToArray());
        byte[][] data = [[0x61], [0x62], [0x63], [0x64], [0x65]];
        var l = data.Select(d => H([0x00], d)).ToArray();
        byte[] N(byte[] a, byte[] b) => H([0x01], a, b);

        // n = 3: ((l0 l1) l2); n = 5: (((l0 l1)(l2 l3)) l4) — split at 4, not at the midpoint.
        Assert.Equal(l[0], MerkleTree.ComputeRoot(l[..1]));
        Assert.Equal(N(N(l[0], l[1]), l[2]), MerkleTree.ComputeRoot(l[..3]));
        Assert.Equal(N(N(N(l[0], l[1]), N(l[2], l[3])), l[4]), MerkleTree.ComputeRoot(l));
        Assert.Equal(l[2], MerkleTree.HashLeaf(data[2]));
    }

    [Fact]
    public void InclusionProof_HandComputedFiveLeafTree_IsTheAuditPath()
    {
        var leaves = Enumerable.Range(0, 5).Select(i => MerkleTree.HashLeaf([(byte)i])).ToList();
        var n01 = MerkleTree.HashChildren(leaves[0], leaves[1]);
        var n23 = MerkleTree.HashChildren(leaves[2], leaves[3]);

        Assert.Equal([leaves[3], n01, leaves[4]], MerkleTree.InclusionProof(leaves, 2));
        Assert.Equal([MerkleTree.HashChildren(n01, n23)], MerkleTree.InclusionProof(leaves, 4));
    }

    [Fact]
    public void InclusionProof_ReferenceVectors_MatchPublishedPaths()
    {
        var leaves = Reference(8);

        Assert.Equal(
            ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
            MerkleTree.InclusionProof(leaves, 0).Select(Convert.ToHexStringLower));
        Assert.Equal(
            ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
            MerkleTree.InclusionProof(leaves, 5).Select(Convert.ToHexStringLower));
    }

    [Fact]
    public void ConsistencyProof_HandComputedThreeToFive_IsTheSubproof()
    {
        var l = Enumerable.Range(0, 5).Select(i => MerkleTree.HashLeaf([(byte)i])).ToList();

        // SUBPROOF(3, D[5]) = SUBPROOF(3, D[0:4]) : l4 = (l2 : l3 : (l0 l1)) : l4.
        var proof = MerkleTree.ConsistencyProof(l, 3);

        Assert.Equal([l[2], l[3], MerkleTree.HashChildren(l[0], l[1]), l[4]], proof);
        Assert.True(MerkleTree.VerifyConsistency(3, 5, MerkleTree.ComputeRoot(l[..3]), MerkleTree.ComputeRoot(l), proof));
    }

    [Fact]
    public void VerifyConsistency_EdgeSizes_FollowTheirRules()
    {
        var l = Reference(4);
        var root = MerkleTree.ComputeRoot(l);

        Assert.True(MerkleTree.VerifyConsistency(4, 4, root, root, []));
        Assert.False(MerkleTree.VerifyConsistency(4, 4, root, MerkleTree.ComputeRoot(l[..3]), []));
        Assert.True(MerkleTree.VerifyConsistency(0, 4, MerkleTree.EmptyRoot, root, []));
        Assert.False(MerkleTree.VerifyConsistency(2, 4, MerkleTree.ComputeRoot(l[..2]), root, []));
        Assert.False(MerkleTree.VerifyConsistency(5, 4, root, root, []));
    }

    [Fact]
    public void Proofs_RandomTrees_AllVerifyAndEveryTamperingFails()
    {
        var random = new Random(20250301);
        var sizes = Enumerable.Range(1, 20).Concat(Enumerable.Range(0, 12).Select(_ => random.Next(21, 300)));
        foreach (var n in sizes)
        {
            var leaves = Enumerable.Range(0, n).Select(_ => MerkleTree.HashLeaf(RandomBytes(random, 8))).ToList();
            var root = MerkleTree.ComputeRoot(leaves);
            var roots = Enumerable.Range(0, n + 1).Select(m => MerkleTree.ComputeRoot(leaves[..m])).ToArray();

            var indexes = n <= 20 ? Enumerable.Range(0, n) : Enumerable.Range(0, 10).Select(_ => random.Next(n));
            foreach (var i in indexes)
            {
                var proof = MerkleTree.InclusionProof(leaves, i);
                Assert.True(MerkleTree.VerifyInclusion(leaves[i], i, n, proof, root), $"inclusion n={n} i={i}");
                Assert.False(MerkleTree.VerifyInclusion(leaves[i], (i + 1) % n == i ? i + 1 : (i + 1) % n, n, proof, root), $"wrong index n={n} i={i}");
                Assert.False(MerkleTree.VerifyInclusion(MerkleTree.HashLeaf([1, 2, 3]), i, n, proof, root), $"wrong leaf n={n} i={i}");
                if (proof.Count > 0)
                {
                    var k = random.Next(proof.Count);
                    Assert.False(MerkleTree.VerifyInclusion(leaves[i], i, n, FlipOne(proof, k), root), $"flipped n={n} i={i} k={k}");
                    Assert.False(MerkleTree.VerifyInclusion(leaves[i], i, n, proof.Take(proof.Count - 1).ToList(), root), $"short n={n} i={i}");
                }
                Assert.False(MerkleTree.VerifyInclusion(leaves[i], i, n, [.. proof, root], root), $"long n={n} i={i}");
                // No "wrong tree size" case: some paths have the same shape in trees of n and n + 1 leaves; the size
                // is bound to the root by the signed checkpoint, not by the path.
            }

            var olds = n <= 20 ? Enumerable.Range(1, n) : Enumerable.Range(0, 10).Select(_ => random.Next(1, n + 1));
            foreach (var m in olds)
            {
                var proof = MerkleTree.ConsistencyProof(leaves, m);
                Assert.True(MerkleTree.VerifyConsistency(m, n, roots[m], root, proof), $"consistency m={m} n={n}");
                if (m < n)
                {
                    var k = random.Next(proof.Count);
                    Assert.False(MerkleTree.VerifyConsistency(m, n, roots[m], root, FlipOne(proof, k)), $"flipped m={m} n={n} k={k}");
                    Assert.False(MerkleTree.VerifyConsistency(m, n, roots[m - 1], root, proof), $"wrong old root m={m} n={n}");
                    Assert.False(MerkleTree.VerifyConsistency(m, n, roots[m], roots[n - 1], proof), $"wrong new root m={m} n={n}");
                    Assert.False(MerkleTree.VerifyConsistency(m, n, roots[m], root, proof.Skip(1).ToList()), $"short m={m} n={n}");
                }
            }
        }
    }

    [Fact]
    public void Commit_SameIdsInAnotherOrderWithDuplicates_SameRootAndCount()
    {
        var salt = Enumerable.Repeat((byte)7, 16).ToArray();

        var a = SaltedIdCommitment.Commit(["b", "a", "c"], salt);
        var b = SaltedIdCommitment.Commit(["c", "a", "b", "a"], salt);

        Assert.Equal(a, b);
        Assert.Equal(3, a.Count);
        Assert.Equal(SaltedIdCommitment.AlgorithmDescription, a.HashAlgorithm);
    }

    [Fact]
    public void Commit_TwoIds_RootIsSortedSaltedLeaves()
    {
        var salt = "0123456789abcdef"u8.ToArray();
        var hx = SHA256.HashData([.. salt, .. "x"u8]);
        var hy = SHA256.HashData([.. salt, .. "y"u8]);
        var (first, second) = hx.AsSpan().SequenceCompareTo(hy) < 0 ? (hx, hy) : (hy, hx);

        var commitment = SaltedIdCommitment.Commit(["y", "x"], salt);

        var expected = MerkleTree.HashChildren(MerkleTree.HashLeaf(first), MerkleTree.HashLeaf(second));
        Assert.Equal(Convert.ToHexStringLower(expected), commitment.MerkleRoot);
    }

    [Fact]
    public void Commit_OtherSalt_OtherRoot()
    {
        var a = SaltedIdCommitment.Commit(["a"], Enumerable.Repeat((byte)1, 16).ToArray());
        var b = SaltedIdCommitment.Commit(["a"], Enumerable.Repeat((byte)2, 16).ToArray());

        Assert.NotEqual(a.MerkleRoot, b.MerkleRoot);
    }

    [Fact]
    public void Commit_ShortSalt_Throws()
    {
        Assert.Throws<ArgumentException>(() => SaltedIdCommitment.Commit(["a"], new byte[8]));
    }

    [Fact]
    public void VerifyMembership_ProofFromService_ProvesOnlyThatId()
    {
        var salt = SaltedIdCommitment.NewSalt();
        string[] ids = ["s-1", "s-2", "s-3", "s-4", "s-5"];
        var commitment = SaltedIdCommitment.Commit(ids, salt);

        var proof = SaltedIdCommitment.Prove(ids, salt, "s-4")!;

        Assert.True(SaltedIdCommitment.VerifyMembership("s-4", salt, proof, commitment));
        Assert.False(SaltedIdCommitment.VerifyMembership("s-6", salt, proof, commitment));
        Assert.False(SaltedIdCommitment.VerifyMembership("s-4", SaltedIdCommitment.NewSalt(), proof, commitment));
        Assert.Null(SaltedIdCommitment.Prove(ids, salt, "s-6"));
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static List<byte[]> FlipOne(IReadOnlyList<byte[]> proof, int index)
    {
        var copy = proof.Select(p => p.ToArray()).ToList();
        copy[index][0] ^= 0x80;
        return copy;
    }
}
