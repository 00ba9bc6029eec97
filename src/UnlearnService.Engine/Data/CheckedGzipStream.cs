using ICSharpCode.SharpZipLib;
using ICSharpCode.SharpZipLib.Checksum;
using ICSharpCode.SharpZipLib.Zip.Compression;

namespace UnlearnService.Engine.Data;

/// <summary>
/// Decompresses gzip (RFC 1952), one member after another, and fails with a format error unless every member is whole:
/// its header, its deflate data, and its trailer's CRC-32 and length must all be there and agree, and nothing but
/// another member may follow it. .NET's GZipStream accepts a member whose trailer is cut off, and junk after the last
/// one, so a truncated or damaged upload could import with wrong values. SharpZipLib's inflater is used because it
/// reports how much of its input it left unread, which is where the trailer starts.
/// </summary>
internal sealed class CheckedGzipStream(Stream compressed, string what) : ImportStreams.ReadOnlyStream
{
    const byte Id1 = 0x1f, Id2 = 0x8b, Deflate = 8;
    const byte HeaderCrcFlag = 0x02, ExtraFlag = 0x04, NameFlag = 0x08, CommentFlag = 0x10, ReservedFlags = 0xE0;
    const int ChunkBytes = 64 * 1024;
    // Deflate's densest code: 258 bytes from a 1-bit length and a 1-bit distance code.
    const long MaxExpansion = 1032;

    readonly Inflater _inflater = new(noHeader: true);
    readonly Crc32 _dataCrc = new();
    readonly Crc32 _headerCrc = new();
    readonly byte[] _input = new byte[ChunkBytes];
    readonly byte[] _output = new byte[ChunkBytes];
    // Bytes of _input read from the stream but neither parsed nor handed to the inflater yet.
    int _inputStart, _inputEnd;
    bool _inMember, _ended;

    public override int Read(Span<byte> buffer)
    {
        while (!_ended && !buffer.IsEmpty)
        {
            if (!_inMember && !StartMember())
            {
                _ended = true;
                break;
            }
            var produced = Inflate(buffer);
            if (produced > 0)
                return produced;
        }
        return 0;
    }

    /// <summary>Inflates into the buffer; returns 0 once the member's data ended (its trailer then checked).</summary>
    int Inflate(Span<byte> buffer)
    {
        while (true)
        {
            int produced;
            try
            {
                produced = _inflater.Inflate(_output, 0, Math.Min(buffer.Length, _output.Length));
            }
            catch (SharpZipBaseException e)
            {
                throw Corrupt(e.Message);
            }
            catch (Exception e) when (e is IndexOutOfRangeException or OverflowException)
            {
                // SharpZipLib's Huffman table builder fails with these, not its own exception, on some invalid code lengths.
                throw Corrupt("invalid Huffman code lengths");
            }
            if (produced > 0)
            {
                // On some invalid data SharpZipLib inflates without end; nothing valid expands further than this.
                if (_inflater.TotalOut > MaxExpansion * (_inflater.TotalIn + 8))
                    throw Corrupt("it expands more than deflate data can");
                _dataCrc.Update(new ArraySegment<byte>(_output, 0, produced));
                _output.AsSpan(0, produced).CopyTo(buffer);
                return produced;
            }
            if (_inflater.IsFinished)
            {
                EndMember();
                return 0;
            }
            // Raw deflate data never asks for a dictionary, so the inflater has used up its input.
            if (!Fill())
                throw Truncated("inside its compressed data");
            FeedInflater();
        }
    }

    /// <summary>Reads a member header; false when the input ends where a member could begin.</summary>
    bool StartMember()
    {
        if (_inputStart == _inputEnd && !Fill())
            return false;
        _headerCrc.Reset();
        if (ReadHeaderByte() != Id1 || ReadHeaderByte() != Id2)
            throw new DatasetFormatException($"{what}: the gzip data is followed by bytes that are not another gzip member.");
        var method = ReadHeaderByte();
        if (method != Deflate)
            throw Corrupt($"compression method {method} is not deflate");
        var flags = ReadHeaderByte();
        if ((flags & ReservedFlags) != 0)
            throw Corrupt("reserved header flags are set");
        for (var i = 0; i < 6; i++)
            ReadHeaderByte(); // modification time, extra flags, operating system
        if ((flags & ExtraFlag) != 0)
        {
            var length = ReadHeaderByte() | ReadHeaderByte() << 8;
            for (var i = 0; i < length; i++)
                ReadHeaderByte();
        }
        if ((flags & NameFlag) != 0)
            while (ReadHeaderByte() != 0) { }
        if ((flags & CommentFlag) != 0)
            while (ReadHeaderByte() != 0) { }
        if ((flags & HeaderCrcFlag) != 0 && (NextByte("its header") | NextByte("its header") << 8) != (_headerCrc.Value & 0xFFFF))
            throw Corrupt("header CRC check failed");

        _inflater.Reset();
        _dataCrc.Reset();
        if (_inputStart < _inputEnd)
            FeedInflater();
        _inMember = true;
        return true;
    }

    void EndMember()
    {
        // The trailer begins with the bytes the inflater was given but did not need.
        _inputStart = _inputEnd - _inflater.RemainingInput;
        var crc = ReadTrailerWord();
        var length = ReadTrailerWord();
        if (crc != (uint)_dataCrc.Value)
            throw Corrupt("CRC-32 check failed");
        // The trailer holds the length modulo 2^32.
        if (length != (uint)_inflater.TotalOut)
            throw Corrupt("length check failed");
        _inMember = false;
    }

    uint ReadTrailerWord()
    {
        uint value = 0;
        for (var shift = 0; shift < 32; shift += 8)
            value |= (uint)NextByte("its CRC-32 and length trailer") << shift;
        return value;
    }

    byte ReadHeaderByte()
    {
        var value = NextByte("its header");
        _headerCrc.Update(value);
        return value;
    }

    byte NextByte(string part)
    {
        if (_inputStart == _inputEnd && !Fill())
            throw Truncated($"inside {part}");
        return _input[_inputStart++];
    }

    void FeedInflater()
    {
        _inflater.SetInput(_input, _inputStart, _inputEnd - _inputStart);
        _inputStart = _inputEnd;
    }

    /// <summary>Refills the input buffer, which must be used up; false at the end of the stream.</summary>
    bool Fill()
    {
        _inputStart = 0;
        _inputEnd = compressed.Read(_input);
        return _inputEnd > 0;
    }

    DatasetFormatException Corrupt(string detail) => new($"{what}: the gzip data is corrupt ({detail}).");

    DatasetFormatException Truncated(string where) => new($"{what}: the gzip data is truncated (a member ends {where}).");
}
