namespace UnlearnService.Engine.Formats;

/// <summary>Writes a file whole or not at all.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Writes to a temporary file of its own beside <paramref name="path"/> and moves it into place when
    /// <paramref name="write"/> has finished: a reader never sees half a file, a failed write leaves nothing behind, and
    /// two writers to the same path never share a temporary file.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        var temporary = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                write(stream);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
