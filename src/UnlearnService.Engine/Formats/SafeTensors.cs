using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using TorchSharp;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Formats;

/// <summary>
/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length, a JSON header, then one byte buffer that the tensors cover exactly. Reading is strict: any
/// departure from the format is a <see cref="SafeTensorsFormatException"/>, and no allocation depends on a size
/// the file has not yet backed with bytes (or, for streams that cannot seek, that exceeds the limits).
/// </summary>
public static class SafeTensors
{
    // Tensors are copied in slices so no Span exceeds 2 GB and the pooled buffer stays small.
    const int ChunkBytes = 1 << 20;

    /// <summary>Reads a safetensors file.</summary>
    /// <exception cref="SafeTensorsFormatException">The file breaks the format or the limits.</exception>
    public static SafeTensorsFile Read(string path, SafeTensorsLimits? limits = null)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        return Read(stream, limits);
    }

    /// <summary>
    /// Reads safetensors from the stream's current position to its end. A seekable stream is checked against its
    /// length before any tensor is allocated; other streams are read to the end to prove there are no trailing bytes.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">The data breaks the format or the limits.</exception>
    public static SafeTensorsFile Read(Stream stream, SafeTensorsLimits? limits = null) => Read(stream, limits, checkHeader: null);

    /// <param name="stream">Read from its current position to its end.</param>
    /// <param name="limits">The limits; <see cref="SafeTensorsLimits.Default"/> when null.</param>
    /// <param name="checkHeader">Sees the parsed header before any tensor is allocated, so that a caller which expects
    /// particular tensors can refuse others early by throwing.</param>
    internal static SafeTensorsFile Read(Stream stream, SafeTensorsLimits? limits, Action<SafeTensorsHeader>? checkHeader)
    {
        ArgumentNullException.ThrowIfNull(stream);
        limits ??= SafeTensorsLimits.Default;
        limits.Validate();
        EnsureLittleEndianHost();

        var remaining = StreamReading.Remaining(stream);
        Span<byte> prefix = stackalloc byte[8];
        if (StreamReading.ReadFully(stream, prefix) < 8)
            throw new SafeTensorsFormatException("The file is shorter than 8 bytes, so it has no header length.");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)limits.MaxHeaderBytes)
            throw new SafeTensorsFormatException($"The header length {headerLength} is over the limit of {limits.MaxHeaderBytes} bytes.");
        remaining -= 8;
        if (headerLength > (ulong?)remaining)
            throw HeaderBeyondFile(headerLength);
        var headerBytes = StreamReading.ReadExactlyOrNull(stream, (long)headerLength) ?? throw HeaderBeyondFile(headerLength);
        remaining -= (long)headerLength;

        var header = SafeTensorsHeader.Parse(headerBytes, limits);
        checkHeader?.Invoke(header);
        if (header.DataLength > limits.MaxDataBytes)
            throw new SafeTensorsFormatException($"The tensors need {header.DataLength} bytes, over the limit of {limits.MaxDataBytes}.");
        if (remaining is { } length)
        {
            if (length > header.DataLength)
                throw new SafeTensorsFormatException($"The byte buffer has {length} bytes but the tensors cover only {header.DataLength}: {length - header.DataLength} trailing bytes.");
            if (length < header.DataLength)
                throw DataBeyondFile(header.DataLength, length);
        }

        TorchRuntime.Initialize();
        using var scope = torch.NewDisposeScope();
        var tensors = new List<(string, Tensor)>(header.Tensors.Count);
        var chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            long position = 0;
            foreach (var info in header.Tensors)
            {
                var tensor = Allocate(info);
                FillFromStream(stream, tensor, info, chunk, ref position, header.DataLength);
                tensors.Add((info.Name, tensor));
            }
            if (remaining is null && stream.ReadByte() >= 0)
                throw new SafeTensorsFormatException($"The byte buffer has bytes after the {header.DataLength} that the tensors cover: trailing bytes.");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        scope.MoveToOuter(tensors.Select(t => (IDisposable)t.Item2));
        return new SafeTensorsFile(header.Metadata, tensors);
    }

    static Tensor Allocate(SafeTensorInfo info)
    {
        try
        {
            return torch.empty(info.Shape, info.DType.ToScalarType());
        }
        catch (ExternalException e)
        {
            // libtorch's allocator refuses sizes the machine cannot hold. From a stream that cannot seek, sizes arrive
            // here bounded only by the limits, not by bytes; a file asking for more memory than there is is refused.
            throw new SafeTensorsFormatException($"Tensor {SafeTensorsHeader.Quote(info.Name)} needs {info.ByteCount} bytes of memory, which could not be allocated.", e);
        }
    }

    static void FillFromStream(Stream stream, Tensor tensor, SafeTensorInfo info, byte[] chunk, ref long position, long dataLength)
    {
        if (info.ByteCount == 0)
            return;
        var elementSize = info.DType.Size();
        var elementsPerChunk = ChunkBytes / elementSize;
        using var flat = tensor.view(-1);
        var elements = flat.shape[0];
        for (long start = 0; start < elements; start += elementsPerChunk)
        {
            var count = (int)Math.Min(elementsPerChunk, elements - start);
            var span = chunk.AsSpan(0, count * elementSize);
            var read = StreamReading.ReadFully(stream, span);
            position += read;
            if (read < span.Length)
                throw DataBeyondFile(dataLength, position);
            if (info.DType == SafeTensorsDType.BOOL && span.ContainsAnyExcept((byte)0, (byte)1))
                throw new SafeTensorsFormatException($"Tensor {SafeTensorsHeader.Quote(info.Name)} is BOOL but holds a byte other than 0 or 1.");
            using var part = flat.narrow(0, start, count);
            part.bytes = span;
        }
    }

    static SafeTensorsFormatException HeaderBeyondFile(ulong headerLength) =>
        new($"The header length {headerLength} goes beyond the end of the file.");

    static SafeTensorsFormatException DataBeyondFile(long needed, long present) =>
        new($"The tensors need {needed} bytes but the byte buffer has only {present}.");

    /// <summary>Reads a model state dict (parameter and buffer names to tensors); the caller owns the tensors.</summary>
    /// <exception cref="SafeTensorsFormatException">The file breaks the format or the limits.</exception>
    public static IReadOnlyDictionary<string, Tensor> ReadStateDict(string path, SafeTensorsLimits? limits = null) =>
        ToStateDict(Read(path, limits));

    /// <summary>Reads a model state dict from a stream; the caller owns the tensors.</summary>
    /// <exception cref="SafeTensorsFormatException">The data breaks the format or the limits.</exception>
    public static IReadOnlyDictionary<string, Tensor> ReadStateDict(Stream stream, SafeTensorsLimits? limits = null) =>
        ToStateDict(Read(stream, limits));

    static Dictionary<string, Tensor> ToStateDict(SafeTensorsFile file) =>
        file.Tensors.ToDictionary(t => t.Name, t => t.Tensor, StringComparer.Ordinal);

    /// <summary>
    /// Writes tensors to a file. The file appears complete or not at all: the bytes go to a temporary file in
    /// the same folder, which then replaces <paramref name="path"/>.
    /// </summary>
    /// <inheritdoc cref="Write(Stream, IEnumerable{ValueTuple{string, Tensor}}, IReadOnlyDictionary{string, string}?)"/>
    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        AtomicFile.Write(path, stream => Write(stream, tensors, metadata));
    }

    /// <summary>
    /// Writes tensors as safetensors, in the order given (the format allows any order; the reference writer
    /// sorts by alignment, which only matters to readers that map the file into memory). Tensors are copied to
    /// the CPU and made contiguous first; the callers' tensors are left as they are. The header is padded with
    /// spaces to a multiple of 8 bytes, as the reference implementation does.
    /// </summary>
    /// <param name="stream">Where to write, from its current position.</param>
    /// <param name="tensors">Names and tensors; names must be unique, non-empty and not <c>__metadata__</c>.</param>
    /// <param name="metadata">Optional string-to-string <c>__metadata__</c>.</param>
    /// <exception cref="ArgumentException">A name is empty, reserved or repeated, or a dtype has no safetensors form.</exception>
    public static void Write(Stream stream, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        EnsureLittleEndianHost();
        var list = tensors.ToList();
        var header = BuildHeader(list, metadata);
        var padded = (header.Length + 7) / 8 * 8;
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        stream.Write(prefix);
        stream.Write(header);
        for (var i = header.Length; i < padded; i++)
            stream.WriteByte((byte)' ');

        foreach (var (_, tensor) in list)
        {
            // One scope per tensor, so a GPU model's CPU copies are freed one at a time.
            using var scope = torch.NewDisposeScope();
            var cpu = tensor.detach().cpu().contiguous();
            if (cpu.numel() == 0)
                continue;
            var flat = cpu.view(-1);
            var elementsPerChunk = ChunkBytes / (int)cpu.element_size();
            var elements = flat.shape[0];
            for (long start = 0; start < elements; start += elementsPerChunk)
            {
                using var part = flat.narrow(0, start, Math.Min(elementsPerChunk, elements - start));
                stream.Write(part.bytes);
            }
        }
    }

    static byte[] BuildHeader(List<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var output = new ArrayBufferWriter<byte>();
        // The relaxed encoder keeps non-ASCII names readable; the result is still plain, valid JSON.
        using (var json = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata)
                    json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in tensors)
            {
                ArgumentNullException.ThrowIfNull(tensor);
                if (string.IsNullOrEmpty(name))
                    throw new ArgumentException("A tensor name is empty.", nameof(tensors));
                if (name == SafeTensorsHeader.MetadataKey)
                    throw new ArgumentException($"'{SafeTensorsHeader.MetadataKey}' is reserved for metadata and cannot name a tensor.", nameof(tensors));
                if (!names.Add(name))
                    throw new ArgumentException($"The tensor name '{name}' appears more than once.", nameof(tensors));
                if (!SafeTensorsDTypes.TryFromScalarType(tensor.dtype, out var dtype))
                    throw new ArgumentException($"Tensor '{name}' has dtype {tensor.dtype}, which safetensors cannot hold here.", nameof(tensors));
                var bytes = tensor.numel() * dtype.Size();
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype.ToString());
                json.WriteStartArray("shape");
                foreach (var dim in tensor.shape)
                    json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Writes a model state dict to a file, tensors sorted by name (ordinal) so that equal weights always give
    /// equal bytes, and therefore equal hashes.
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty or reserved, or a dtype has no safetensors form.</exception>
    public static void WriteStateDict(string path, IReadOnlyDictionary<string, Tensor> stateDict, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, SortedByName(stateDict), metadata);

    /// <summary>Writes a model state dict to a stream, tensors sorted by name (ordinal).</summary>
    /// <exception cref="ArgumentException">A name is empty or reserved, or a dtype has no safetensors form.</exception>
    public static void WriteStateDict(Stream stream, IReadOnlyDictionary<string, Tensor> stateDict, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(stream, SortedByName(stateDict), metadata);

    static IEnumerable<(string, Tensor)> SortedByName(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        return stateDict.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value));
    }

    static void EnsureLittleEndianHost()
    {
        // Tensor bytes are copied as they are; safetensors and libtorch on our targets are both little-endian.
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors reading and writing needs a little-endian machine.");
    }
}
