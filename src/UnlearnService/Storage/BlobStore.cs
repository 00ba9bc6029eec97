using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using UnlearnService.Hosting;

namespace UnlearnService.Storage;

/// <summary>What was written: the blob's path relative to the store, its sha256 and size.</summary>
internal sealed record StoredBlob(string Path, string Sha256, long SizeBytes);

/// <summary>
/// Immutable blobs (weights, datasets, importances) in a folder shared by the API and the workers. Writes go to
/// a temporary file and are renamed into place, so a crash never leaves a half-written blob under its name.
/// </summary>
internal sealed class BlobStore(IOptions<ServiceOptions> options)
{
    readonly string _root = System.IO.Path.GetFullPath(System.IO.Path.Combine(options.Value.DataDirectory, "blobs"));

    /// <summary>Writes <paramref name="write"/>'s output under tenant/kind/name; returns its path and sha256.</summary>
    public async Task<StoredBlob> WriteAsync(Guid tenantId, string kind, string name, Func<Stream, Task> write, CancellationToken cancellationToken)
    {
        var relative = System.IO.Path.Combine(tenantId.ToString("N"), kind, name);
        var full = Resolve(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        var temp = $"{full}.{Guid.NewGuid():N}.partial";
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await write(stream);
                await stream.FlushAsync(cancellationToken);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        await using var read = OpenRead(relative);
        var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(read, cancellationToken));
        return new StoredBlob(relative, sha, new FileInfo(full).Length);
    }

    public Stream OpenRead(string relative) =>
        new FileStream(Resolve(relative), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);

    public string FullPath(string relative) => Resolve(relative);

    public void Delete(string relative)
    {
        var full = Resolve(relative);
        if (File.Exists(full)) File.Delete(full);
    }

    /// <summary>A scratch file for uploads before they are validated; the caller deletes it.</summary>
    public string NewTempFile()
    {
        var folder = System.IO.Path.Combine(_root, "tmp");
        Directory.CreateDirectory(folder);
        return System.IO.Path.Combine(folder, $"{Guid.NewGuid():N}.upload");
    }

    string Resolve(string relative)
    {
        var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(_root, relative));
        if (!full.StartsWith(_root + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidOperationException($"Blob path '{relative}' leaves the blob store.");
        return full;
    }
}
