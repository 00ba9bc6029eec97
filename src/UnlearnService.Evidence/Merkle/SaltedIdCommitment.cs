using System.Security.Cryptography;
using System.Text;

namespace UnlearnService.Evidence;

/// <summary>A proof that one id is in a salted id commitment.</summary>
/// <param name="LeafIndex">The leaf's index in the sorted tree.</param>
/// <param name="TreeSize">The number of leaves (distinct ids).</param>
/// <param name="Path">The inclusion proof, lowercase hex hashes.</param>
public sealed record SaltedIdProof(long LeafIndex, long TreeSize, IReadOnlyList<string> Path);

/// <summary>
/// Commits to a set of sample ids without revealing them: leaf data = SHA-256(salt || UTF-8(id)) for each distinct
/// id, sorted ascending as bytes (so the root depends on the set, not on the order the ids came in), then an
/// RFC 9162 Merkle tree over those leaves. The salt is secret: without it the ids, often guessable, cannot be
/// confirmed by brute force from a certificate; with it the service can prove one id's membership.
/// </summary>
public static class SaltedIdCommitment
{
    /// <summary>The fewest salt bytes accepted.</summary>
    public const int MinimumSaltLength = 16;

    /// <summary>The description stored in <see cref="ForgetSetCommitment.HashAlgorithm"/>.</summary>
    public const string AlgorithmDescription =
        "RFC 9162 Merkle tree, SHA-256; leaf data = SHA-256(salt || UTF-8(id)) per distinct id, sorted ascending as bytes; salt withheld";

    /// <summary>Creates a random 32-byte salt.</summary>
    /// <returns>The salt.</returns>
    public static byte[] NewSalt() => RandomNumberGenerator.GetBytes(32);

    /// <summary>SHA-256(salt || UTF-8(id)).</summary>
    /// <param name="id">The sample id.</param>
    /// <param name="salt">The salt.</param>
    /// <returns>The leaf data (32 bytes).</returns>
    public static byte[] SaltedIdHash(string id, ReadOnlySpan<byte> salt)
    {
        ArgumentNullException.ThrowIfNull(id);
        CheckSalt(salt);
        var idBytes = Encoding.UTF8.GetBytes(id);
        var buffer = new byte[salt.Length + idBytes.Length];
        salt.CopyTo(buffer);
        idBytes.CopyTo(buffer, salt.Length);
        return SHA256.HashData(buffer);
    }

    /// <summary>Commits to a set of ids.</summary>
    /// <param name="ids">The ids; duplicates count once.</param>
    /// <param name="salt">The secret salt, at least <see cref="MinimumSaltLength"/> bytes.</param>
    /// <returns>The commitment for a certificate.</returns>
    public static ForgetSetCommitment Commit(IEnumerable<string> ids, ReadOnlySpan<byte> salt)
    {
        var leaves = LeafHashes(ids, salt);
        return new ForgetSetCommitment(Convert.ToHexStringLower(MerkleTree.ComputeRoot(leaves)), leaves.Count, AlgorithmDescription);
    }

    /// <summary>Proves that <paramref name="id"/> is one of <paramref name="ids"/>.</summary>
    /// <param name="ids">The committed ids.</param>
    /// <param name="salt">The salt the commitment used.</param>
    /// <param name="id">The id to prove.</param>
    /// <returns>The proof, or null when the id is not in the set.</returns>
    public static SaltedIdProof? Prove(IEnumerable<string> ids, ReadOnlySpan<byte> salt, string id)
    {
        var leaves = LeafHashes(ids, salt);
        var target = MerkleTree.HashLeaf(SaltedIdHash(id, salt));
        var index = leaves.FindIndex(l => l.AsSpan().SequenceEqual(target));
        if (index < 0)
        {
            return null;
        }
        var path = MerkleTree.InclusionProof(leaves, index).Select(Convert.ToHexStringLower).ToList();
        return new SaltedIdProof(index, leaves.Count, path);
    }

    /// <summary>Checks a membership proof against a certificate's commitment.</summary>
    /// <param name="id">The id.</param>
    /// <param name="salt">The salt.</param>
    /// <param name="proof">The proof.</param>
    /// <param name="commitment">The certificate's commitment.</param>
    /// <returns>Whether the id is in the committed set.</returns>
    public static bool VerifyMembership(string id, ReadOnlySpan<byte> salt, SaltedIdProof proof, ForgetSetCommitment commitment)
    {
        ArgumentNullException.ThrowIfNull(proof);
        ArgumentNullException.ThrowIfNull(commitment);
        if (proof.TreeSize != commitment.Count || !CertificateVerifier.IsSha256Hex(commitment.MerkleRoot)
            || proof.Path.Any(p => !CertificateVerifier.IsSha256Hex(p)))
        {
            return false;
        }
        var leaf = MerkleTree.HashLeaf(SaltedIdHash(id, salt));
        return MerkleTree.VerifyInclusion(leaf, proof.LeafIndex, proof.TreeSize,
            proof.Path.Select(Convert.FromHexString).ToList(), Convert.FromHexString(commitment.MerkleRoot));
    }

    private static List<byte[]> LeafHashes(IEnumerable<string> ids, ReadOnlySpan<byte> salt)
    {
        ArgumentNullException.ThrowIfNull(ids);
        CheckSalt(salt);
        var data = new List<byte[]>();
        foreach (var id in ids.Distinct(StringComparer.Ordinal))
        {
            data.Add(SaltedIdHash(id, salt));
        }
        data.Sort((a, b) => a.AsSpan().SequenceCompareTo(b));
        return data.Select(d => MerkleTree.HashLeaf(d)).ToList();
    }

    private static void CheckSalt(ReadOnlySpan<byte> salt)
    {
        if (salt.Length < MinimumSaltLength)
        {
            throw new ArgumentException($"The salt must have at least {MinimumSaltLength} bytes.", nameof(salt));
        }
    }
}
