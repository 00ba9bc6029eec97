using System.Numerics;
using System.Security.Cryptography;

namespace UnlearnService.Evidence;

/// <summary>
/// Merkle trees as RFC 9162 (Certificate Transparency 2.0, same trees as RFC 6962) defines them, with SHA-256:
/// leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left || right), and a tree of n leaves splits
/// at the largest power of two below n. The distinct prefixes keep a leaf from passing for a node.
/// Every method but the hashing helpers works on leaf hashes, as proofs do.
/// </summary>
public static class MerkleTree
{
    /// <summary>The root of the empty tree: SHA-256 of the empty string.</summary>
    public static byte[] EmptyRoot => SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>SHA-256(0x00 || data).</summary>
    /// <param name="data">The leaf's data.</param>
    /// <returns>The leaf hash.</returns>
    public static byte[] HashLeaf(ReadOnlySpan<byte> data)
    {
        var buffer = new byte[1 + data.Length];
        data.CopyTo(buffer.AsSpan(1));
        return SHA256.HashData(buffer);
    }

    /// <summary>SHA-256(0x01 || left || right).</summary>
    /// <param name="left">The left child's hash.</param>
    /// <param name="right">The right child's hash.</param>
    /// <returns>The node hash.</returns>
    public static byte[] HashChildren(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var buffer = new byte[1 + left.Length + right.Length];
        buffer[0] = 1;
        left.CopyTo(buffer.AsSpan(1));
        right.CopyTo(buffer.AsSpan(1 + left.Length));
        return SHA256.HashData(buffer);
    }

    /// <summary>The Merkle tree hash MTH of the leaves.</summary>
    /// <param name="leafHashes">The leaf hashes, in order.</param>
    /// <returns>The root hash (<see cref="EmptyRoot"/> for no leaves).</returns>
    public static byte[] ComputeRoot(IReadOnlyList<byte[]> leafHashes)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        return leafHashes.Count == 0 ? EmptyRoot : Root(leafHashes, 0, leafHashes.Count);
    }

    /// <summary>The inclusion proof (audit path) of leaf <paramref name="index"/>, RFC 9162 §2.1.3.1.</summary>
    /// <param name="leafHashes">All leaf hashes of the tree.</param>
    /// <param name="index">The leaf's index.</param>
    /// <returns>The sibling hashes from the leaf up to the root.</returns>
    public static IReadOnlyList<byte[]> InclusionProof(IReadOnlyList<byte[]> leafHashes, long index)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, leafHashes.Count);
        var proof = new List<byte[]>();
        Path((int)index, leafHashes, 0, leafHashes.Count, proof);
        return proof;
    }

    /// <summary>Verifies an inclusion proof, RFC 9162 §2.1.3.2.</summary>
    /// <param name="leafHash">The leaf's hash.</param>
    /// <param name="index">The leaf's index.</param>
    /// <param name="treeSize">The tree's size.</param>
    /// <param name="proof">The proof.</param>
    /// <param name="root">The tree's root hash.</param>
    /// <returns>Whether the leaf is at that index in the tree with that root.</returns>
    public static bool VerifyInclusion(ReadOnlySpan<byte> leafHash, long index, long treeSize, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (index < 0 || index >= treeSize)
        {
            return false;
        }
        var fn = index;
        var sn = treeSize - 1;
        var r = leafHash.ToArray();
        foreach (var p in proof)
        {
            if (sn == 0)
            {
                return false; // proof longer than the path
            }
            if ((fn & 1) == 1 || fn == sn)
            {
                r = HashChildren(p, r);
                if ((fn & 1) == 0)
                {
                    // A right-edge node with no right sibling at this level: climb until it is a right child.
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = HashChildren(r, p);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && CryptographicOperations.FixedTimeEquals(r, root);
    }

    /// <summary>The consistency proof between the first <paramref name="oldSize"/> leaves and all of them, RFC 9162 §2.1.4.1.</summary>
    /// <param name="leafHashes">All leaf hashes of the newer tree.</param>
    /// <param name="oldSize">The older tree's size, 0 ≤ oldSize ≤ newSize.</param>
    /// <returns>The proof; empty when oldSize is 0 or equals the new size.</returns>
    public static IReadOnlyList<byte[]> ConsistencyProof(IReadOnlyList<byte[]> leafHashes, long oldSize)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        ArgumentOutOfRangeException.ThrowIfNegative(oldSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(oldSize, leafHashes.Count);
        var proof = new List<byte[]>();
        if (oldSize > 0 && oldSize < leafHashes.Count)
        {
            SubProof((int)oldSize, leafHashes, 0, leafHashes.Count, true, proof);
        }
        return proof;
    }

    /// <summary>
    /// Verifies that the tree of <paramref name="oldSize"/> leaves is a prefix of the tree of
    /// <paramref name="newSize"/> leaves, RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots; an old
    /// size of 0 needs an empty proof and the empty root.
    /// </summary>
    /// <param name="oldSize">The older tree's size.</param>
    /// <param name="newSize">The newer tree's size.</param>
    /// <param name="oldRoot">The older tree's root.</param>
    /// <param name="newRoot">The newer tree's root.</param>
    /// <param name="proof">The proof.</param>
    /// <returns>Whether the newer tree extends the older one.</returns>
    public static bool VerifyConsistency(long oldSize, long newSize, ReadOnlySpan<byte> oldRoot, ReadOnlySpan<byte> newRoot, IReadOnlyList<byte[]> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (oldSize < 0 || oldSize > newSize)
        {
            return false;
        }
        if (oldSize == 0)
        {
            return proof.Count == 0 && CryptographicOperations.FixedTimeEquals(oldRoot, EmptyRoot);
        }
        if (oldSize == newSize)
        {
            return proof.Count == 0 && CryptographicOperations.FixedTimeEquals(oldRoot, newRoot);
        }
        if (proof.Count == 0)
        {
            return false;
        }

        // When the old tree is a complete subtree, its root is the proof's implicit first element.
        var path = BitOperations.IsPow2(oldSize) ? proof.Prepend(oldRoot.ToArray()).ToList() : proof.ToList();
        var fn = oldSize - 1;
        var sn = newSize - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }
        var fr = path[0];
        var sr = path[0];
        foreach (var c in path.Skip(1))
        {
            if (sn == 0)
            {
                return false;
            }
            if ((fn & 1) == 1 || fn == sn)
            {
                fr = HashChildren(c, fr);
                sr = HashChildren(c, sr);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                sr = HashChildren(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0
            && CryptographicOperations.FixedTimeEquals(fr, oldRoot)
            && CryptographicOperations.FixedTimeEquals(sr, newRoot);
    }

    /// <summary>The largest power of two strictly below n (n ≥ 2): where RFC 9162 splits a tree.</summary>
    internal static int Split(int n) => 1 << (BitOperations.Log2((uint)(n - 1)));

    private static byte[] Root(IReadOnlyList<byte[]> leaves, int start, int end)
    {
        var n = end - start;
        if (n == 1)
        {
            return leaves[start];
        }
        var k = Split(n);
        return HashChildren(Root(leaves, start, start + k), Root(leaves, start + k, end));
    }

    private static void Path(int m, IReadOnlyList<byte[]> leaves, int start, int end, List<byte[]> proof)
    {
        var n = end - start;
        if (n == 1)
        {
            return;
        }
        var k = Split(n);
        if (m < k)
        {
            Path(m, leaves, start, start + k, proof);
            proof.Add(Root(leaves, start + k, end));
        }
        else
        {
            Path(m - k, leaves, start + k, end, proof);
            proof.Add(Root(leaves, start, start + k));
        }
    }

    private static void SubProof(int m, IReadOnlyList<byte[]> leaves, int start, int end, bool isWholeOldTree, List<byte[]> proof)
    {
        var n = end - start;
        if (m == n)
        {
            // The old tree's root is known to the verifier only when this subtree is the whole old tree.
            if (!isWholeOldTree)
            {
                proof.Add(Root(leaves, start, end));
            }
            return;
        }
        var k = Split(n);
        if (m <= k)
        {
            SubProof(m, leaves, start, start + k, isWholeOldTree, proof);
            proof.Add(Root(leaves, start + k, end));
        }
        else
        {
            SubProof(m - k, leaves, start + k, end, false, proof);
            proof.Add(Root(leaves, start, start + k));
        }
    }
}
