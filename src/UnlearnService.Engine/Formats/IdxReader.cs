using UnlearnService.Engine.Data;

namespace UnlearnService.Engine.Formats;

/// <summary>Element types of the IDX format, by their type code.</summary>
internal enum IdxType : byte
{
    UInt8 = 0x08,
    Int8 = 0x09,
    Int16 = 0x0B,
    Int32 = 0x0C,
    Float32 = 0x0D,
    Float64 = 0x0E,
}

/// <summary>An IDX array as stored: its type, its dimensions and its big-endian data bytes.</summary>
internal sealed record IdxArray(IdxType Type, int[] Dims, byte[] Data)
{
    public int ElementSize => Type.Size();
    public long Count => Data.Length / ElementSize;
}

internal static class IdxTypes
{
    public static int Size(this IdxType type) => type switch
    {
        IdxType.UInt8 or IdxType.Int8 => 1,
        IdxType.Int16 => 2,
        IdxType.Int32 or IdxType.Float32 => 4,
        _ => 8,
    };

    public static bool IsInteger(this IdxType type) => type is IdxType.UInt8 or IdxType.Int8 or IdxType.Int16 or IdxType.Int32;
}

/// <summary>
/// Reads one IDX file (the MNIST family): magic 00 00 type ndims, ndims big-endian u32 dimensions, then the
/// data, big-endian. Every size is checked against the limits before memory is set aside for it.
/// </summary>
internal static class IdxReader
{
    /// <param name="stream">Decompressed bytes of the file.</param>
    /// <param name="what">Names the file in messages, e.g. "IDX images".</param>
    /// <param name="rank">The number of dimensions the caller needs.</param>
    /// <param name="limits">Sample and byte limits.</param>
    public static IdxArray Read(Stream stream, string what, int rank, DatasetImportLimits limits)
    {
        Span<byte> magic = stackalloc byte[4];
        if (stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4)
            throw Fail(what, "the file is shorter than the 4-byte IDX magic number.");
        if (magic[0] != 0 || magic[1] != 0)
            throw Fail(what, $"the magic number must start with two zero bytes, not 0x{magic[0]:X2} 0x{magic[1]:X2} (is this an IDX file?).");
        var type = (IdxType)magic[2];
        if (!Enum.IsDefined(type))
            throw Fail(what, $"unknown IDX type code 0x{magic[2]:X2}; expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E.");
        if (magic[3] != rank)
            throw Fail(what, $"expected {rank} dimension(s), found {magic[3]}.");

        Span<byte> dimBytes = stackalloc byte[4 * rank];
        if (stream.ReadAtLeast(dimBytes, dimBytes.Length, throwOnEndOfStream: false) < dimBytes.Length)
            throw Fail(what, "the file ends inside the list of dimensions.");
        var dims = new int[rank];
        UInt128 dataBytes = (uint)type.Size();
        for (var i = 0; i < rank; i++)
        {
            var dim = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(dimBytes[(4 * i)..]);
            if (i == 0 && dim > limits.MaxSamples)
                throw Fail(what, $"{dim} samples are over the limit of {limits.MaxSamples}.");
            if (i > 0 && dim == 0)
                throw Fail(what, $"dimension {i + 1} is zero.");
            // Each factor is below 2^32 and the product is checked every step, so 128 bits cannot overflow.
            dataBytes *= dim;
            if (4 + (UInt128)dimBytes.Length + dataBytes > (ulong)limits.MaxBytes || dataBytes > (ulong)Array.MaxLength)
                throw Fail(what, $"the dimensions ask for over {Math.Min(limits.MaxBytes, Array.MaxLength)} bytes of {type} data, the limit.");
            dims[i] = (int)Math.Min(dim, int.MaxValue);
        }
        var shape = $"[{string.Join(", ", dims)}]";

        var (data, filled) = Formats.StreamReading.ReadUpTo(stream, (long)dataBytes);
        if (filled < (long)dataBytes)
            throw Fail(what, $"the dimensions {shape} of {type} need {dataBytes} data bytes, but the file has {filled}.");
        if (stream.ReadByte() >= 0)
            throw Fail(what, $"the file goes on after the {dataBytes} data bytes that the dimensions {shape} of {type} need.");
        if (dims[0] == 0)
            throw Fail(what, "the file holds no samples.");
        return new IdxArray(type, dims, data);
    }

    static DatasetFormatException Fail(string what, string message) => new($"{what}: {message}");
}
