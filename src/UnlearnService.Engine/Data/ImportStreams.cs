namespace UnlearnService.Engine.Data;

/// <summary>Wraps upload streams for the importers: gzip detection and a byte budget.</summary>
internal static class ImportStreams
{
    /// <summary>
    /// Decompresses the stream when it starts with the gzip magic bytes 1f 8b (checking every member, see
    /// <see cref="CheckedGzipStream"/>), and in either case stops it from yielding more than <paramref name="maxBytes"/>
    /// bytes. Works on streams that cannot seek.
    /// </summary>
    public static Stream OpenMaybeGzipped(Stream stream, long maxBytes, string what)
    {
        var prefix = new byte[2];
        var read = stream.ReadAtLeast(prefix, 2, throwOnEndOfStream: false);
        Stream replayed = new PrefixedStream(prefix.AsMemory(0, read), stream);
        if (read == 2 && prefix[0] == 0x1f && prefix[1] == 0x8b)
            return new LimitedReadStream(new CheckedGzipStream(replayed, what), maxBytes, what, ownsInner: true);
        return new LimitedReadStream(replayed, maxBytes, what, ownsInner: false);
    }

    /// <summary>Replays bytes already taken from a stream, then continues with the stream.</summary>
    sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : ReadOnlyStream
    {
        ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.IsEmpty)
                return rest.Read(buffer);
            var count = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..count].CopyTo(buffer);
            _prefix = _prefix[count..];
            return count;
        }
    }

    /// <summary>
    /// Fails with a format error once the inner stream yields more than the budget. Disposes the inner stream
    /// only when it owns it (a decompressor it wraps), never the caller's stream.
    /// </summary>
    internal sealed class LimitedReadStream(Stream inner, long maxBytes, string what, bool ownsInner) : ReadOnlyStream
    {
        long _total;

        public override int Read(Span<byte> buffer)
        {
            // Reading one byte past the budget tells "exactly at the limit" apart from "over it" (written so that a
            // budget of long.MaxValue cannot overflow).
            var left = maxBytes - _total;
            var wanted = left < buffer.Length ? (int)left + 1 : buffer.Length;
            var read = inner.Read(buffer[..wanted]);
            _total += read;
            if (_total > maxBytes)
                throw new DatasetFormatException($"{what}: the data is larger than the limit of {maxBytes} bytes.");
            return read;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && ownsInner) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    internal abstract class ReadOnlyStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public abstract override int Read(Span<byte> buffer);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
