using System.Text.Json;
using System.Text.Unicode;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Formats;

/// <summary>The element types of the safetensors format that TorchSharp can hold.</summary>
internal enum SafeTensorsDType
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    BOOL,
}

internal static class SafeTensorsDTypes
{
    public static bool TryParse(string name, out SafeTensorsDType dtype)
    {
        // Enum.TryParse would also accept numbers and other casings; the format names are exact.
        foreach (var candidate in Enum.GetValues<SafeTensorsDType>())
        {
            if (candidate.ToString() == name)
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    public static int Size(this SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F64 or SafeTensorsDType.I64 => 8,
        SafeTensorsDType.F32 or SafeTensorsDType.I32 => 4,
        SafeTensorsDType.F16 or SafeTensorsDType.BF16 or SafeTensorsDType.I16 => 2,
        _ => 1,
    };

    public static ScalarType ToScalarType(this SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F64 => ScalarType.Float64,
        SafeTensorsDType.F32 => ScalarType.Float32,
        SafeTensorsDType.F16 => ScalarType.Float16,
        SafeTensorsDType.BF16 => ScalarType.BFloat16,
        SafeTensorsDType.I64 => ScalarType.Int64,
        SafeTensorsDType.I32 => ScalarType.Int32,
        SafeTensorsDType.I16 => ScalarType.Int16,
        SafeTensorsDType.I8 => ScalarType.Int8,
        SafeTensorsDType.U8 => ScalarType.Byte,
        SafeTensorsDType.BOOL => ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static bool TryFromScalarType(ScalarType type, out SafeTensorsDType dtype)
    {
        foreach (var candidate in Enum.GetValues<SafeTensorsDType>())
        {
            if (candidate.ToScalarType() == type)
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }
}

/// <summary>One tensor's entry in the header, already checked for internal consistency.</summary>
internal sealed record SafeTensorInfo(string Name, SafeTensorsDType DType, long[] Shape, long Begin, long End)
{
    public long ByteCount => End - Begin;
}

/// <summary>
/// The parsed and validated JSON header. Parsing walks the bytes with <see cref="Utf8JsonReader"/> rather than
/// building a document, because the format forbids duplicate keys and JsonDocument silently keeps both.
/// </summary>
internal sealed class SafeTensorsHeader
{
    public const string MetadataKey = "__metadata__";

    SafeTensorsHeader(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<SafeTensorInfo> tensors)
    {
        Metadata = metadata;
        Tensors = tensors;
    }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Entries ordered by their place in the byte buffer (ties keep the header's order).</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>Length of the byte buffer the entries cover, from 0 without gaps or overlaps.</summary>
    public long DataLength => Tensors.Count == 0 ? 0 : Tensors[^1].End;

    public static SafeTensorsHeader Parse(ReadOnlySpan<byte> utf8, SafeTensorsLimits limits)
    {
        if (!Utf8.IsValid(utf8))
            throw Fail("The header is not valid UTF-8.");
        // Utf8JsonReader throws its own wording for input without a single token, so that case is caught first.
        if (utf8.Trim(" \t\r\n"u8).IsEmpty)
            throw Fail("The header is not valid JSON: it is empty.");
        // Our structure is three levels deep; a tight depth limit keeps hostile nesting cheap to reject.
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 8 });
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<SafeTensorInfo>();
        try
        {
            if (Next(ref reader) != JsonTokenType.StartObject)
                throw Fail($"The header must be a JSON object, not {Describe(reader.TokenType)}.");
            var keys = new HashSet<string>(StringComparer.Ordinal);
            while (Next(ref reader) != JsonTokenType.EndObject)
            {
                var key = reader.GetString()!;
                if (!keys.Add(key))
                    throw Fail($"The header has the key {Quote(key)} more than once.");
                if (key == MetadataKey)
                    ReadMetadata(ref reader, metadata);
                else if (key.Length == 0)
                    throw Fail("A tensor name is empty.");
                else if (entries.Count == limits.MaxTensors)
                    throw Fail($"The header has more than {limits.MaxTensors} tensors, the limit.");
                else
                    entries.Add(ReadEntry(ref reader, key, limits));
            }
            if (reader.Read())
                throw Fail("The header has content after its JSON object.");
        }
        catch (JsonException e)
        {
            throw Fail($"The header is not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // GetString throws this for escapes that decode to invalid UTF-16, such as a lone surrogate.
            throw Fail($"The header is not valid JSON: {e.Message}", e);
        }
        return new SafeTensorsHeader(metadata, CheckLayout(entries));
    }

    static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        // With isFinalBlock set, the reader throws on truncated JSON rather than returning false mid-object.
        if (!reader.Read())
            throw Fail("The header is not valid JSON: it ends early.");
        return reader.TokenType;
    }

    static void ReadMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata)
    {
        if (Next(ref reader) != JsonTokenType.StartObject)
            throw Fail($"{MetadataKey} must be an object, not {Describe(reader.TokenType)}.");
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            if (metadata.ContainsKey(key))
                throw Fail($"{MetadataKey} has the key {Quote(key)} more than once.");
            if (Next(ref reader) != JsonTokenType.String)
                throw Fail($"{MetadataKey} value of {Quote(key)} must be a string, not {Describe(reader.TokenType)}.");
            metadata.Add(key, reader.GetString()!);
        }
    }

    static SafeTensorInfo ReadEntry(ref Utf8JsonReader reader, string name, SafeTensorsLimits limits)
    {
        if (Next(ref reader) != JsonTokenType.StartObject)
            throw Fail($"The entry of tensor {Quote(name)} must be an object, not {Describe(reader.TokenType)}.");
        SafeTensorsDType? dtype = null;
        List<ulong>? shape = null;
        List<ulong>? offsets = null;
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            switch (key)
            {
                case "dtype":
                    if (dtype is not null)
                        throw Fail($"The entry of tensor {Quote(name)} has the key \"dtype\" more than once.");
                    if (Next(ref reader) != JsonTokenType.String)
                        throw Fail($"The dtype of tensor {Quote(name)} must be a string, not {Describe(reader.TokenType)}.");
                    var dtypeName = reader.GetString()!;
                    if (!SafeTensorsDTypes.TryParse(dtypeName, out var parsed))
                        throw Fail($"Tensor {Quote(name)} has the unknown dtype {Quote(dtypeName)}; expected one of {string.Join(", ", Enum.GetNames<SafeTensorsDType>())}.");
                    dtype = parsed;
                    break;
                case "shape":
                    if (shape is not null)
                        throw Fail($"The entry of tensor {Quote(name)} has the key \"shape\" more than once.");
                    shape = ReadIntegers(ref reader, limits.MaxRank,
                        $"The shape of tensor {Quote(name)} must be an array of non-negative integers.",
                        $"The shape of tensor {Quote(name)} has more than {limits.MaxRank} dimensions.");
                    break;
                case "data_offsets":
                    if (offsets is not null)
                        throw Fail($"The entry of tensor {Quote(name)} has the key \"data_offsets\" more than once.");
                    var offsetsError = $"The data_offsets of tensor {Quote(name)} must be two non-negative integers [begin, end].";
                    offsets = ReadIntegers(ref reader, 2, offsetsError, offsetsError);
                    if (offsets.Count != 2)
                        throw Fail(offsetsError);
                    break;
                default:
                    throw Fail($"The entry of tensor {Quote(name)} has the unknown key {Quote(key)}.");
            }
        }
        if (dtype is null)
            throw Fail($"The entry of tensor {Quote(name)} has no dtype.");
        if (shape is null)
            throw Fail($"The entry of tensor {Quote(name)} has no shape.");
        if (offsets is null)
            throw Fail($"The entry of tensor {Quote(name)} has no data_offsets.");

        var (begin, end) = (offsets[0], offsets[1]);
        if (begin > end)
            throw Fail($"The data_offsets of tensor {Quote(name)} begin after they end ({begin} > {end}).");
        // Products are checked in 128 bits so that no overflow can wrap into a plausible size. A zero dimension empties
        // the tensor whatever the others say, but libtorch still multiplies them all into strides: those must fit too.
        UInt128 bytes = (uint)dtype.Value.Size(), strides = 1;
        foreach (var dim in shape)
        {
            bytes *= dim;
            strides *= Math.Max(dim, 1UL);
            if (bytes > long.MaxValue)
                throw Fail($"The size of tensor {Quote(name)} overflows: shape [{string.Join(", ", shape)}] of {dtype}.");
            if (strides > long.MaxValue)
                throw Fail($"The shape of tensor {Quote(name)} overflows: [{string.Join(", ", shape)}].");
        }
        if (bytes != end - begin)
            throw Fail($"Tensor {Quote(name)} needs {bytes} bytes (shape [{string.Join(", ", shape)}] of {dtype}) but its data_offsets span {end - begin}.");
        return new SafeTensorInfo(name, dtype.Value, shape.Select(d => (long)d).ToArray(), (long)begin, (long)end);
    }

    static List<ulong> ReadIntegers(ref Utf8JsonReader reader, int maxCount, string notIntegers, string tooMany)
    {
        if (Next(ref reader) != JsonTokenType.StartArray)
            throw Fail(notIntegers);
        var values = new List<ulong>();
        while (Next(ref reader) != JsonTokenType.EndArray)
        {
            // TryGetUInt64 refuses fractions, exponents, signs and values past 2^64, which is what we want.
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out var value) || value > long.MaxValue)
                throw Fail(notIntegers);
            if (values.Count == maxCount)
                throw Fail(tooMany);
            values.Add(value);
        }
        return values;
    }

    static List<SafeTensorInfo> CheckLayout(List<SafeTensorInfo> entries)
    {
        // OrderBy is stable, so empty tensors that share an offset keep the header's order.
        var sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long position = 0;
        SafeTensorInfo? previous = null;
        foreach (var entry in sorted)
        {
            if (entry.Begin > position)
                throw Fail($"Bytes {position}..{entry.Begin} of the byte buffer belong to no tensor (a gap before tensor {Quote(entry.Name)}).");
            if (entry.Begin < position)
                throw Fail($"Tensor {Quote(entry.Name)} (bytes {entry.Begin}..{entry.End}) overlaps tensor {Quote(previous!.Name)} (bytes {previous.Begin}..{previous.End}).");
            position = entry.End;
            previous = entry;
        }
        return sorted;
    }

    internal static SafeTensorsFormatException Fail(string message, Exception? inner = null) =>
        inner is null ? new SafeTensorsFormatException(message) : new SafeTensorsFormatException(message, inner);

    /// <summary>Quotes a name for a message, cut short because hostile headers may carry megabyte-long names.</summary>
    internal static string Quote(string name) => name.Length <= 80 ? $"'{name}'" : $"'{name[..80]}…'";

    static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };
}
