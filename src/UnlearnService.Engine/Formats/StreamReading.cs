namespace UnlearnService.Engine.Formats;

/// <summary>Reading helpers that never allocate more than the bytes that actually arrived.</summary>
internal static class StreamReading
{
    const int FirstChunk = 64 * 1024;

    /// <summary>
    /// Reads exactly <paramref name="count"/> bytes, growing the buffer as data arrives so that a length field
    /// that lies costs no more memory than the bytes behind it. Returns null when the stream ends first.
    /// </summary>
    public static byte[]? ReadExactlyOrNull(Stream stream, long count)
    {
        var (buffer, filled) = ReadUpTo(stream, count);
        return filled == count ? buffer : null;
    }

    /// <summary>
    /// Reads until <paramref name="count"/> bytes arrived or the stream ended; returns the buffer and how much of
    /// it was filled (the buffer is exactly <paramref name="count"/> long when it was filled).
    /// </summary>
    public static (byte[] Buffer, int Filled) ReadUpTo(Stream stream, long count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Array.MaxLength);
        var buffer = new byte[Math.Min(count, FirstChunk)];
        var filled = 0;
        while (filled < count)
        {
            if (filled == buffer.Length)
                Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
            var read = stream.Read(buffer, filled, buffer.Length - filled);
            if (read == 0)
                break;
            filled += read;
        }
        return (buffer, filled);
    }

    /// <summary>Fills the span; returns how many bytes arrived before the stream ended.</summary>
    public static int ReadFully(Stream stream, Span<byte> buffer) =>
        stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);

    /// <summary>Bytes left in a seekable stream, or null when the stream cannot tell.</summary>
    public static long? Remaining(Stream stream) => stream.CanSeek ? stream.Length - stream.Position : null;
}
