using System.Buffers.Binary;
using System.Text;
using TorchSharp;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Formats;

public sealed class SafeTensorsTests
{
    public SafeTensorsTests() => TorchRuntime.Initialize();

    /// <summary>An 8-byte little-endian length, the header bytes, then the data bytes.</summary>
    internal static byte[] RawFile(string header, int dataBytes = 0, ulong? declaredLength = null, byte fill = 0)
    {
        var json = Encoding.UTF8.GetBytes(header);
        return RawFile(json, Enumerable.Repeat(fill, dataBytes).ToArray(), declaredLength);
    }

    internal static byte[] RawFile(byte[] header, byte[] data, ulong? declaredLength = null)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    static byte[] ToBytes(IEnumerable<(string, Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var stream = new MemoryStream();
        SafeTensors.Write(stream, tensors, metadata);
        return stream.ToArray();
    }

    public static TheoryData<ScalarType> Dtypes => new()
    {
        ScalarType.Float32, ScalarType.Float64, ScalarType.Float16, ScalarType.BFloat16, ScalarType.Int64,
        ScalarType.Int32, ScalarType.Int16, ScalarType.Int8, ScalarType.Byte, ScalarType.Bool,
    };

    [Theory]
    [MemberData(nameof(Dtypes))]
    public void Write_ThenRead_RoundTripsDtype(ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        // Values include negatives, fractions and extremes each dtype can hold; the cast saturates or wraps them consistently.
        var source = torch.tensor(new double[] { 0, 1, -1, 2.5, -128, 127, 255, 65504, -3.25, 1e-3, 42, 7 }).reshape(3, 4);
        var original = dtype == ScalarType.Bool ? source.gt(0.5) : source.to(dtype);

        var bytes = ToBytes([("t", original)]);
        using var file = SafeTensors.Read(new MemoryStream(bytes));

        var read = Assert.Single(file.Tensors);
        Assert.Equal("t", read.Name);
        Assert.Equal(dtype, read.Tensor.dtype);
        Assert.Equal(new long[] { 3, 4 }, read.Tensor.shape);
        Assert.True(TensorAssert.Identical(read.Tensor, original), $"values differ for {dtype}");
    }

    [Fact]
    public void Write_ThenRead_KeepsOrderMetadataScalarsAndEmptyTensors()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = new (string, Tensor)[]
        {
            ("z.weight", torch.arange(6, dtype: ScalarType.Float32).reshape(2, 3)),
            ("scalar", torch.tensor(3.5)),
            ("empty", torch.empty(0, 3, dtype: ScalarType.Int64)),
            ("a.bias", torch.tensor(new short[] { -2, 9 })),
            ("émoji ✓", torch.ones(1, dtype: ScalarType.Byte)),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "line\n\"quoted\"" };

        using var file = SafeTensors.Read(new MemoryStream(ToBytes(tensors, metadata)));

        Assert.Equal(tensors.Select(t => t.Item1), file.Tensors.Select(t => t.Name));
        Assert.Equal(metadata, file.Metadata);
        Assert.Empty(file["scalar"].shape);
        Assert.Equal(3.5, file["scalar"].item<double>());
        Assert.Equal(new long[] { 0, 3 }, file["empty"].shape);
        Assert.True(TensorAssert.Identical(file["z.weight"], tensors[0].Item2));
        Assert.False(file.TryGetTensor("missing", out _));
    }

    [Fact]
    public void Write_HeaderLength_IsMultipleOf8PaddedWithSpaces()
    {
        using var scope = torch.NewDisposeScope();
        for (var nameLength = 1; nameLength <= 9; nameLength++)
        {
            var bytes = ToBytes([(new string('n', nameLength), torch.ones(2))]);
            var length = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0UL, length % 8);
            var header = Encoding.UTF8.GetString(bytes, 8, (int)length);
            Assert.EndsWith("}", header.TrimEnd(' '));
            Assert.Equal(8 + (long)length + 8, bytes.Length);
        }
    }

    [Fact]
    public void Write_NonContiguousTensor_WritesLogicalOrder()
    {
        using var scope = torch.NewDisposeScope();
        var transposed = torch.arange(6, dtype: ScalarType.Int32).reshape(2, 3).t();
        Assert.False(transposed.is_contiguous());

        using var file = SafeTensors.Read(new MemoryStream(ToBytes([("t", transposed)])));

        Assert.Equal(new[] { 0, 3, 1, 4, 2, 5 }, file["t"].data<int>().ToArray());
    }

    [Fact]
    public void Read_HandWrittenReferenceFile_DecodesValues()
    {
        // Laid out by hand from the format description: F32 [2] = {1, -2}, then I64 [1] = {5}.
        var header = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        var data = new byte[16];
        BinaryPrimitives.WriteSingleLittleEndian(data, 1f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), -2f);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), 5);

        using var file = SafeTensors.Read(new MemoryStream(RawFile(Encoding.UTF8.GetBytes(header), data)));

        Assert.Equal(new[] { "a", "b" }, file.Tensors.Select(t => t.Name));
        Assert.Equal(new[] { 1f, -2f }, file["a"].data<float>().ToArray());
        Assert.Equal(5L, file["b"].item<long>());
        Assert.Equal("pt", file.Metadata["format"]);
    }

    [Fact]
    public void Write_ReferenceExample_ProducesReferenceBytes()
    {
        // The upstream Python tests expect exactly these bytes from save({"test": np.zeros((2, 2), np.int32)}).
        using var scope = torch.NewDisposeScope();
        var expected = RawFile("{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}    ", 16);
        Assert.Equal((byte)'@', expected[0]);

        var actual = ToBytes([("test", torch.zeros(2, 2, dtype: ScalarType.Int32))]);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Read_ReferenceExamplesUnpaddedAndWithMetadata_Accepted()
    {
        // Older reference writers did not pad the header; files with a __metadata__ entry put it first.
        var unpadded = RawFile("{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
        var withMetadata = RawFile("{\"__metadata__\":{\"framework\":\"pt\"},\"test1\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}       ", 16);
        Assert.Equal((byte)'<', unpadded[0]);
        Assert.Equal((byte)'f', withMetadata[0]);

        using var first = SafeTensors.Read(new MemoryStream(unpadded));
        using var second = SafeTensors.Read(new MemoryStream(withMetadata));

        Assert.Equal(new int[4], first["test"].data<int>().ToArray());
        Assert.Equal(new long[] { 2, 2 }, second["test1"].shape);
        Assert.Equal("pt", second.Metadata["framework"]);
    }

    [Fact]
    public void Read_NonSeekableStream_ReadsSameTensors()
    {
        using var scope = torch.NewDisposeScope();
        var original = torch.randn(5, 7);
        var bytes = ToBytes([("w", original), ("b", torch.arange(3))]);

        using var file = SafeTensors.Read(NonSeekableStream.Of(bytes));

        Assert.True(TensorAssert.Identical(file["w"], original));
    }

    [Fact]
    public void Read_NonSeekableStreamWithTrailingBytes_Throws()
    {
        using var scope = torch.NewDisposeScope();
        var bytes = ToBytes([("w", torch.ones(2))]).Concat(new byte[] { 9 }).ToArray();

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(NonSeekableStream.Of(bytes)));

        Assert.Contains("trailing bytes", error.Message);
    }

    [Fact]
    public void Read_NonSeekableStreamCutShort_Throws()
    {
        using var scope = torch.NewDisposeScope();
        var bytes = ToBytes([("w", torch.ones(4))]);

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(NonSeekableStream.Of(bytes[..^3])));

        Assert.Equal("The tensors need 16 bytes but the byte buffer has only 13.", error.Message);
    }

    [Fact]
    public void Read_LargeTensor_CopiesAcrossChunks()
    {
        using var scope = torch.NewDisposeScope();
        // 3 MiB plus a bit: several 1 MiB chunks and a partial one.
        var original = torch.randn(786_433, dtype: ScalarType.Float32);

        using var file = SafeTensors.Read(new MemoryStream(ToBytes([("big", original)])));

        Assert.True(TensorAssert.Identical(file["big"], original));
    }

    [Fact]
    public void Read_SmallerConfiguredLimits_RejectsHeaderAndData()
    {
        using var scope = torch.NewDisposeScope();
        var bytes = ToBytes([("w", torch.ones(100))]);

        var header = Assert.Throws<SafeTensorsFormatException>(() =>
            SafeTensors.Read(new MemoryStream(bytes), new SafeTensorsLimits { MaxHeaderBytes = 16 }));
        var data = Assert.Throws<SafeTensorsFormatException>(() =>
            SafeTensors.Read(new MemoryStream(bytes), new SafeTensorsLimits { MaxDataBytes = 399 }));
        var rank = Assert.Throws<SafeTensorsFormatException>(() =>
            SafeTensors.Read(new MemoryStream(ToBytes([("w", torch.ones(1, 1, 1))])), new SafeTensorsLimits { MaxRank = 2 }));
        var threeEmpty = ToBytes([("a", torch.empty(0)), ("b", torch.empty(0)), ("c", torch.empty(0))]);
        var tensors = Assert.Throws<SafeTensorsFormatException>(() =>
            SafeTensors.Read(new MemoryStream(threeEmpty), new SafeTensorsLimits { MaxTensors = 2 }));

        Assert.EndsWith("is over the limit of 16 bytes.", header.Message);
        Assert.Equal("The tensors need 400 bytes, over the limit of 399.", data.Message);
        Assert.Equal("The shape of tensor 'w' has more than 2 dimensions.", rank.Message);
        Assert.Equal("The header has more than 2 tensors, the limit.", tensors.Message);
        using var accepted = SafeTensors.Read(new MemoryStream(bytes), new SafeTensorsLimits { MaxDataBytes = 400 });
        using var threeAccepted = SafeTensors.Read(new MemoryStream(threeEmpty), new SafeTensorsLimits { MaxTensors = 3 });
    }

    /// <summary>A header of one U8 tensor of 2^58 bytes, more than any address space, and none of its bytes.</summary>
    internal static byte[] UnallocatableFile(string name) =>
        RawFile($$$"""{"{{{name}}}":{"dtype":"U8","shape":[{{{1L << 58}}}],"data_offsets":[0,{{{1L << 58}}}]}}""");

    [Fact]
    public void Read_TensorBeyondMemoryWithDataLimitRaised_ThrowsFormatException()
    {
        // A stream that cannot seek allocates before its bytes arrive, so only the allocation itself can refuse this.
        var error = Assert.Throws<SafeTensorsFormatException>(() =>
            SafeTensors.Read(NonSeekableStream.Of(UnallocatableFile("t")), new SafeTensorsLimits { MaxDataBytes = long.MaxValue }));

        Assert.Equal($"Tensor 't' needs {1L << 58} bytes of memory, which could not be allocated.", error.Message);
    }

    [Fact]
    public void Read_EmptyHeaderObject_GivesNoTensors()
    {
        using var file = SafeTensors.Read(new MemoryStream(RawFile("{}        ")));

        Assert.Empty(file.Tensors);
        Assert.Empty(file.Metadata);
    }

    public static TheoryData<string, byte[], string> MalformedFiles()
    {
        const string a4 = "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        static string Entry(string name, string dtype, string shape, string offsets) =>
            $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":{offsets}}}";
        var deepShape = "[" + string.Join(",", Enumerable.Repeat("1", 40)) + "]";
        return new TheoryData<string, byte[], string>
        {
            { "empty file", [], "The file is shorter than 8 bytes, so it has no header length." },
            { "five bytes", [1, 0, 0, 0, 0], "The file is shorter than 8 bytes, so it has no header length." },
            { "header over limit", RawFile("{}", declaredLength: 100_000_001), "The header length 100000001 is over the limit of 100000000 bytes." },
            { "huge header length", RawFile("{}", declaredLength: ulong.MaxValue), $"The header length {ulong.MaxValue} is over the limit of 100000000 bytes." },
            { "header beyond file", RawFile("{}", declaredLength: 64), "The header length 64 goes beyond the end of the file." },
            { "not UTF-8", RawFile([(byte)'{', 0xC3, 0x28, (byte)'}'], []), "The header is not valid UTF-8." },
            { "overlong UTF-8", RawFile([(byte)'"', 0xC0, 0xAF, (byte)'"'], []), "The header is not valid UTF-8." },
            { "empty header", RawFile(""), "The header is not valid JSON: it is empty." },
            { "blank header", RawFile("        "), "The header is not valid JSON: it is empty." },
            { "truncated JSON", RawFile("{\"a\":"), "The header is not valid JSON:" },
            { "trailing comma", RawFile("{" + a4 + ",}", 4), "The header is not valid JSON:" },
            { "two JSON values", RawFile("{} {}"), "The header is not valid JSON:" },
            { "lone surrogate name", RawFile("{\"\\ud800\":{}}"), "The header is not valid JSON:" },
            { "deep nesting", RawFile("{\"__metadata__\":" + new string('[', 100) + new string(']', 100) + "}"), "__metadata__ must be an object, not an array." },
            { "array header", RawFile("[1,2]"), "The header must be a JSON object, not an array." },
            { "string header", RawFile("\"x\""), "The header must be a JSON object, not a string." },
            { "duplicate tensor", RawFile("{" + a4 + "," + a4 + "}", 4), "The header has the key 'a' more than once." },
            { "duplicate via escape", RawFile("{" + a4 + ",\"\\u0061\":{}}", 4), "The header has the key 'a' more than once." },
            { "duplicate metadata", RawFile("{\"__metadata__\":{},\"__metadata__\":{}}"), "The header has the key '__metadata__' more than once." },
            { "duplicate metadata key", RawFile("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), "__metadata__ has the key 'k' more than once." },
            { "metadata number", RawFile("{\"__metadata__\":{\"k\":1}}"), "__metadata__ value of 'k' must be a string, not a number." },
            { "metadata null", RawFile("{\"__metadata__\":{\"k\":null}}"), "__metadata__ value of 'k' must be a string, not null." },
            { "metadata string", RawFile("{\"__metadata__\":\"x\"}"), "__metadata__ must be an object, not a string." },
            { "empty name", RawFile("{" + Entry("", "F32", "[1]", "[0,4]") + "}", 4), "A tensor name is empty." },
            { "entry number", RawFile("{\"a\":5}"), "The entry of tensor 'a' must be an object, not a number." },
            { "unknown dtype", RawFile("{" + Entry("a", "F8_E4M3", "[1]", "[0,1]") + "}", 1), "Tensor 'a' has the unknown dtype 'F8_E4M3'; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL." },
            { "lowercase dtype", RawFile("{" + Entry("a", "f32", "[1]", "[0,4]") + "}", 4), "Tensor 'a' has the unknown dtype 'f32';" },
            { "numeric dtype", RawFile("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "The dtype of tensor 'a' must be a string, not a number." },
            { "shape number", RawFile("{" + Entry("a", "F32", "1", "[0,4]") + "}", 4), "The shape of tensor 'a' must be an array of non-negative integers." },
            { "negative dim", RawFile("{" + Entry("a", "F32", "[-1]", "[0,4]") + "}", 4), "The shape of tensor 'a' must be an array of non-negative integers." },
            { "fractional dim", RawFile("{" + Entry("a", "F32", "[1.0]", "[0,4]") + "}", 4), "The shape of tensor 'a' must be an array of non-negative integers." },
            { "exponent dim", RawFile("{" + Entry("a", "F32", "[1e0]", "[0,4]") + "}", 4), "The shape of tensor 'a' must be an array of non-negative integers." },
            { "string dim", RawFile("{" + Entry("a", "F32", "[\"1\"]", "[0,4]") + "}", 4), "The shape of tensor 'a' must be an array of non-negative integers." },
            { "dim past int64", RawFile("{" + Entry("a", "F32", "[9223372036854775808]", "[0,4]") + "}", 4), "The shape of tensor 'a' must be an array of non-negative integers." },
            { "too many dims", RawFile("{" + Entry("a", "F32", deepShape, "[0,4]") + "}", 4), "The shape of tensor 'a' has more than 32 dimensions." },
            { "size overflow", RawFile("{" + Entry("a", "F32", "[4611686018427387904,4]", "[0,4]") + "}", 4), "The size of tensor 'a' overflows: shape [4611686018427387904, 4] of F32." },
            { "bytes overflow", RawFile("{" + Entry("a", "F64", "[2305843009213693952]", "[0,4]") + "}", 4), "The size of tensor 'a' overflows: shape [2305843009213693952] of F64." },
            { "empty but strides overflow", RawFile("{" + Entry("a", "U8", "[0,9223372036854775807,2]", "[0,0]") + "}", 0), "The shape of tensor 'a' overflows: [0, 9223372036854775807, 2]." },
            { "size mismatch", RawFile("{" + Entry("a", "F32", "[2]", "[0,4]") + "}", 4), "Tensor 'a' needs 8 bytes (shape [2] of F32) but its data_offsets span 4." },
            { "zero dim mismatch", RawFile("{" + Entry("a", "F32", "[0,5]", "[0,4]") + "}", 4), "Tensor 'a' needs 0 bytes (shape [0, 5] of F32) but its data_offsets span 4." },
            { "one offset", RawFile("{" + Entry("a", "F32", "[1]", "[4]") + "}", 4), "The data_offsets of tensor 'a' must be two non-negative integers [begin, end]." },
            { "three offsets", RawFile("{" + Entry("a", "F32", "[1]", "[0,4,8]") + "}", 4), "The data_offsets of tensor 'a' must be two non-negative integers [begin, end]." },
            { "negative offset", RawFile("{" + Entry("a", "F32", "[1]", "[-4,0]") + "}", 4), "The data_offsets of tensor 'a' must be two non-negative integers [begin, end]." },
            { "offsets object", RawFile("{" + Entry("a", "F32", "[1]", "{}") + "}", 4), "The data_offsets of tensor 'a' must be two non-negative integers [begin, end]." },
            { "begin after end", RawFile("{" + Entry("a", "F32", "[1]", "[8,4]") + "}", 8), "The data_offsets of tensor 'a' begin after they end (8 > 4)." },
            { "missing dtype", RawFile("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "The entry of tensor 'a' has no dtype." },
            { "missing shape", RawFile("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "The entry of tensor 'a' has no shape." },
            { "missing offsets", RawFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "The entry of tensor 'a' has no data_offsets." },
            { "unknown entry key", RawFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"foo\":1}}", 4), "The entry of tensor 'a' has the unknown key 'foo'." },
            { "duplicate entry key", RawFile("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "The entry of tensor 'a' has the key \"dtype\" more than once." },
            { "duplicate shape key", RawFile("{\"a\":{\"shape\":[1],\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "The entry of tensor 'a' has the key \"shape\" more than once." },
            { "duplicate offsets key", RawFile("{\"a\":{\"data_offsets\":[0,4],\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "The entry of tensor 'a' has the key \"data_offsets\" more than once." },
            { "gap at start", RawFile("{" + Entry("a", "F32", "[1]", "[4,8]") + "}", 8), "Bytes 0..4 of the byte buffer belong to no tensor (a gap before tensor 'a')." },
            { "gap between", RawFile("{" + Entry("a", "F32", "[1]", "[0,4]") + "," + Entry("b", "F32", "[1]", "[8,12]") + "}", 12), "Bytes 4..8 of the byte buffer belong to no tensor (a gap before tensor 'b')." },
            { "overlap", RawFile("{" + Entry("a", "F32", "[2]", "[0,8]") + "," + Entry("b", "F32", "[1]", "[4,8]") + "}", 8), "Tensor 'b' (bytes 4..8) overlaps tensor 'a' (bytes 0..8)." },
            { "same bytes twice", RawFile("{" + Entry("a", "F32", "[1]", "[0,4]") + "," + Entry("b", "F32", "[1]", "[0,4]") + "}", 4), "Tensor 'b' (bytes 0..4) overlaps tensor 'a' (bytes 0..4)." },
            { "trailing bytes", RawFile("{" + a4 + "}", 6), "The byte buffer has 6 bytes but the tensors cover only 4: 2 trailing bytes." },
            { "data for no tensor", RawFile("{}", 1), "The byte buffer has 1 bytes but the tensors cover only 0: 1 trailing bytes." },
            { "buffer too short", RawFile("{" + Entry("a", "F32", "[2]", "[0,8]") + "}", 5), "The tensors need 8 bytes but the byte buffer has only 5." },
            { "bool byte 2", RawFile("{" + Entry("a", "BOOL", "[3]", "[0,3]") + "}", 3, fill: 2), "Tensor 'a' is BOOL but holds a byte other than 0 or 1." },
            { "long name cut short", RawFile("{\"" + new string('x', 500) + "\":5}"), "The entry of tensor '" + new string('x', 80) + "…' must be an object, not a number." },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void Read_MalformedFile_ThrowsItsOwnMessage(string caseName, byte[] bytes, string expectedMessageStart)
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(new MemoryStream(bytes)));
        Assert.True(error.Message.StartsWith(expectedMessageStart, StringComparison.Ordinal),
            $"{caseName}: expected '{expectedMessageStart}', got '{error.Message}'");

        // A stream that cannot seek learns about short files later, but reports the same rule.
        var streamed = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(NonSeekableStream.Of(bytes)));
        if (!expectedMessageStart.Contains("trailing bytes", StringComparison.Ordinal)
            && !expectedMessageStart.StartsWith("The tensors need", StringComparison.Ordinal))
            Assert.Equal(error.Message, streamed.Message);
    }

    [Fact]
    public void Read_RandomMutationsOfValidFile_OnlyThrowFormatException()
    {
        using var scope = torch.NewDisposeScope();
        var valid = ToBytes(
            [("w", torch.randn(2, 3)), ("b", torch.tensor(new long[] { 1, -1 })), ("m", torch.tensor(new[] { true, false })),
             ("e", torch.empty(0, 2)), ("h", torch.ones(3, dtype: ScalarType.Float16))],
            new Dictionary<string, string> { ["k"] = "v" });
        var headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        var interesting = "{}[]\":,0123456789-.e \\u"u8.ToArray();
        var random = new Random(20240611);
        int accepted = 0, rejected = 0;

        for (var iteration = 0; iteration < 4000; iteration++)
        {
            var bytes = valid.ToList();
            for (var m = random.Next(1, 4); m > 0; m--)
            {
                var at = random.Next(bytes.Count > 0 ? (random.Next(4) == 0 ? bytes.Count : Math.Min(headerEnd, bytes.Count)) : 1);
                switch (random.Next(6))
                {
                    case 0 when at < bytes.Count: bytes[at] = (byte)random.Next(256); break;
                    case 1 when at < bytes.Count: bytes[at] = interesting[random.Next(interesting.Length)]; break;
                    case 2: bytes.Insert(Math.Min(at, bytes.Count), interesting[random.Next(interesting.Length)]); break;
                    case 3 when at < bytes.Count: bytes.RemoveAt(at); break;
                    case 4: bytes.RemoveRange(Math.Min(at, bytes.Count), bytes.Count - Math.Min(at, bytes.Count)); break;
                    case 5 when bytes.Count >= 8: bytes[random.Next(8)] = (byte)random.Next(256); break;
                }
            }
            var mutated = bytes.ToArray();
            try
            {
                Stream stream = iteration % 5 == 0 ? NonSeekableStream.Of(mutated) : new MemoryStream(mutated);
                using var file = SafeTensors.Read(stream);
                accepted++;
            }
            catch (SafeTensorsFormatException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"Iteration {iteration}: {e.GetType().Name}: {e.Message}\n{Convert.ToBase64String(mutated)}");
            }
        }

        // Both outcomes must occur, or the mutations are not exercising the parser.
        Assert.True(rejected > 2000, $"rejected {rejected}");
        Assert.True(accepted > 0, $"accepted {accepted}");
    }

    public static TheoryData<string> BadNames => new() { "", "__metadata__" };

    [Theory]
    [MemberData(nameof(BadNames))]
    public void Write_ReservedOrEmptyName_ThrowsArgumentException(string name)
    {
        using var scope = torch.NewDisposeScope();
        using var stream = new MemoryStream();

        Assert.Throws<ArgumentException>(() => SafeTensors.Write(stream, [(name, torch.ones(1))]));
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public void Write_DuplicateNameOrUnsupportedDtype_ThrowsBeforeWriting()
    {
        using var scope = torch.NewDisposeScope();
        using var stream = new MemoryStream();

        var duplicate = Assert.Throws<ArgumentException>(() => SafeTensors.Write(stream, [("a", torch.ones(1)), ("a", torch.ones(1))]));
        var complex = Assert.Throws<ArgumentException>(() => SafeTensors.Write(stream, [("c", torch.ones(1, dtype: ScalarType.ComplexFloat32))]));

        Assert.Contains("more than once", duplicate.Message);
        Assert.Contains("ComplexFloat32", complex.Message);
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public void WriteStateDict_ThenReadStateDict_LoadsIntoFreshModel()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        var trained = nn.Sequential(("fc1", nn.Linear(4, 8)), ("bn", nn.BatchNorm1d(8)), ("fc2", nn.Linear(8, 2)));
        var fresh = nn.Sequential(("fc1", nn.Linear(4, 8)), ("bn", nn.BatchNorm1d(8)), ("fc2", nn.Linear(8, 2)));
        trained.train();
        trained.forward(torch.randn(16, 4)); // moves the BatchNorm running statistics away from their defaults
        trained.eval();
        fresh.eval();
        using var stream = new MemoryStream();

        SafeTensors.WriteStateDict(stream, trained.state_dict(), new Dictionary<string, string> { ["format"] = "pt" });
        stream.Position = 0;
        var loaded = SafeTensors.ReadStateDict(stream);
        fresh.load_state_dict(new Dictionary<string, Tensor>(loaded));

        Assert.Contains("bn.running_mean", loaded.Keys);
        Assert.Contains("bn.num_batches_tracked", loaded.Keys);
        var x = torch.randn(5, 4);
        Assert.True(TensorAssert.Identical(fresh.forward(x), trained.forward(x)));
    }

    [Fact]
    public void WriteStateDict_InsertionOrder_DoesNotChangeBytes()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.ones(2);
        var b = torch.zeros(3, dtype: ScalarType.Int64);
        using var first = new MemoryStream();
        using var second = new MemoryStream();

        SafeTensors.WriteStateDict(first, new Dictionary<string, Tensor> { ["b"] = b, ["a"] = a });
        SafeTensors.WriteStateDict(second, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });

        Assert.Equal(first.ToArray(), second.ToArray());
    }

    [Fact]
    public void WritePath_ThenReadPath_LeavesOnlyTheFile()
    {
        using var scope = torch.NewDisposeScope();
        var folder = Directory.CreateTempSubdirectory("safetensors-");
        try
        {
            var path = Path.Combine(folder.FullName, "model.safetensors");
            File.WriteAllText(path, "old contents");

            SafeTensors.Write(path, [("w", torch.arange(4))]);
            using var file = SafeTensors.Read(path);

            Assert.Equal(new long[] { 0, 1, 2, 3 }, file["w"].data<long>().ToArray());
            Assert.Equal(["model.safetensors"], folder.GetFiles().Select(f => f.Name));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
