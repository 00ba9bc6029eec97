using System.IO.Compression;

namespace UnlearnService.Tests.Infrastructure;

/// <summary>TorchScript archives made from the committed fixtures.</summary>
public static class TorchScriptFixtures
{
    /// <summary>The archive with every entry whose path ends in <paramref name="entrySuffix"/> left out (a well-formed zip still).</summary>
    public static byte[] Without(byte[] archive, string entrySuffix)
    {
        using var output = new MemoryStream();
        using (var source = new ZipArchive(new MemoryStream(archive), ZipArchiveMode.Read))
        using (var target = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            var left = 0;
            foreach (var entry in source.Entries)
            {
                if (entry.FullName.EndsWith(entrySuffix, StringComparison.Ordinal)) { left++; continue; }
                using var from = entry.Open();
                using var to = target.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
                from.CopyTo(to);
            }
            if (left == 0) throw new ArgumentException($"The archive has no entry ending in {entrySuffix}.", nameof(entrySuffix));
        }
        return output.ToArray();
    }
}
