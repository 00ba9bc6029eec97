using System.Security.Cryptography;

namespace UnlearnService.Evidence;

/// <summary>
/// The service's signing keys: exactly one active key signs; retired keys are kept as public keys only, so
/// evidence signed before a rotation still verifies. To rotate, make a new key active and move the old one to
/// the retired list.
/// </summary>
public sealed class KeyRing : IDisposable
{
    /// <summary>Creates a key ring.</summary>
    /// <param name="active">The key that signs from now on.</param>
    /// <param name="retired">Earlier keys, for verification only.</param>
    public KeyRing(SigningKey active, IEnumerable<VerificationKey> retired)
    {
        ArgumentNullException.ThrowIfNull(active);
        ArgumentNullException.ThrowIfNull(retired);
        Active = active;
        var retiredList = retired.Where(k => k.KeyId != active.KeyId).ToList();
        Retired = retiredList;
        VerificationKeys = new KeySet(retiredList.Prepend(active.PublicKey));
    }

    /// <summary>The signing key.</summary>
    public SigningKey Active { get; }

    /// <summary>Retired keys (public halves only).</summary>
    public IReadOnlyList<VerificationKey> Retired { get; }

    /// <summary>Every key evidence may have been signed with: the active key and the retired ones.</summary>
    public KeySet VerificationKeys { get; }

    /// <summary>
    /// Builds a key ring from PEM text (files or configuration strings). The active key is a PKCS#8
    /// <c>PRIVATE KEY</c>; a retired key may be given as its <c>PRIVATE KEY</c> or <c>PUBLIC KEY</c> block, and only
    /// its public half is kept.
    /// </summary>
    /// <param name="activePrivateKeyPem">The active key.</param>
    /// <param name="retiredKeyPems">Retired keys.</param>
    /// <returns>The key ring.</returns>
    /// <exception cref="CryptographicException">A key cannot be read.</exception>
    public static KeyRing FromPem(string activePrivateKeyPem, IEnumerable<string> retiredKeyPems)
    {
        ArgumentNullException.ThrowIfNull(retiredKeyPems);
        var retired = retiredKeyPems.Select(ReadRetired).ToList();
        return new KeyRing(SigningKey.FromPem(activePrivateKeyPem), retired);
    }

    /// <summary>Builds a key ring from PEM files; see <see cref="FromPem"/>.</summary>
    /// <param name="activePrivateKeyPath">The active key's file.</param>
    /// <param name="retiredKeyPaths">Retired keys' files.</param>
    /// <returns>The key ring.</returns>
    public static KeyRing FromFiles(string activePrivateKeyPath, IEnumerable<string> retiredKeyPaths)
    {
        ArgumentNullException.ThrowIfNull(retiredKeyPaths);
        return FromPem(File.ReadAllText(activePrivateKeyPath), retiredKeyPaths.Select(File.ReadAllText).ToList());
    }

    private static VerificationKey ReadRetired(string pem)
    {
        var blocks = Pem.ReadAll(pem);
        if (blocks.Count == 1 && blocks[0].Label == "PRIVATE KEY")
        {
            using var key = SigningKey.FromPem(pem);
            return key.PublicKey;
        }
        return VerificationKey.FromPem(pem);
    }

    /// <inheritdoc/>
    public void Dispose() => Active.Dispose();
}

/// <summary>Key files for a first start.</summary>
public static class KeyFiles
{
    /// <summary>
    /// Writes a new P-256 key as PKCS#8 PEM to <paramref name="path"/> unless the file exists. On Unix the file is
    /// created readable and writable by its owner only (0600), before any key byte is written.
    /// </summary>
    /// <param name="path">The key file.</param>
    /// <returns><c>true</c> when a key was created; <c>false</c> when the file was already there (it is left untouched).</returns>
    public static bool CreateIfMissing(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }
        using var key = SigningKey.Generate();
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            // CreateNew, not an existence check first: two processes starting at once cannot both write a key.
            using var stream = new FileStream(path, options);
            using var writer = new StreamWriter(stream);
            writer.Write(key.ExportPkcs8Pem());
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
    }
}
