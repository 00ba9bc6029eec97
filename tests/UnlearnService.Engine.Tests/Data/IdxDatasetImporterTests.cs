using System.Buffers.Binary;
using System.IO.Compression;
using ICSharpCode.SharpZipLib.Checksum;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Data;

public sealed class IdxDatasetImporterTests
{
    public IdxDatasetImporterTests() => TorchRuntime.Initialize();

    /// <summary>An IDX file: 00 00 type ndims, big-endian u32 dimensions, then the data as given.</summary>
    internal static byte[] Idx(byte type, int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        bytes[2] = type;
        bytes[3] = (byte)dims.Length;
        for (var i = 0; i < dims.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    internal static byte[] Gzip(byte[] bytes, CompressionLevel level = CompressionLevel.Fastest)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, level, leaveOpen: true))
            gzip.Write(bytes);
        return output.ToArray();
    }

    // Three 2x2 u8 images and their labels, like a miniature MNIST.
    static readonly byte[] Pixels = [0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0];
    static byte[] Images => Idx(0x08, [3, 2, 2], Pixels);
    static byte[] Labels => Idx(0x08, [3], [7, 0, 2]);

    static Dataset Read(byte[] images, byte[] labels, DatasetImportLimits? limits = null) =>
        IdxDatasetImporter.Read(new MemoryStream(images), new MemoryStream(labels), Split.Train, "fm", limits: limits);

    [Fact]
    public void Read_PlainU8Files_ScalesPixelsAndKeepsLabels()
    {
        using var dataset = IdxDatasetImporter.Read(new MemoryStream(Images), new MemoryStream(Labels), Split.Test, "fm");

        Assert.Equal(new long[] { 3, 1, 2, 2 }, dataset.Features.shape);
        Assert.Equal(ScalarType.Float32, dataset.Features.dtype);
        Assert.Equal(Pixels.Select(p => p / 255f), dataset.Features.data<float>().ToArray());
        Assert.Equal(new long[] { 7, 0, 2 }, dataset.Targets.data<long>().ToArray());
        Assert.Equal(8, dataset.ClassCount);
        Assert.Equal(["fm-0", "fm-1", "fm-2"], dataset.SampleIds);
        Assert.All(dataset.Splits, s => Assert.Equal(Split.Test, s));
        Assert.All(dataset.SubjectIds, Assert.Null);
        Assert.Equal(TaskKind.Classification, dataset.Task);
    }

    [Fact]
    public void Read_GzippedNonSeekableStreams_SameAsPlain()
    {
        using var plain = Read(Images, Labels);
        using var gzipped = IdxDatasetImporter.Read(NonSeekableStream.Of(Gzip(Images)), NonSeekableStream.Of(Gzip(Labels)), Split.Train, "fm");
        using var mixed = IdxDatasetImporter.Read(new MemoryStream(Gzip(Images)), new MemoryStream(Labels), Split.Train, "fm");

        Assert.True(TensorAssert.Identical(gzipped.Features, plain.Features));
        Assert.True(TensorAssert.Identical(gzipped.Targets, plain.Targets));
        Assert.True(TensorAssert.Identical(mixed.Features, plain.Features));
    }

    [Fact]
    public void Read_GzipOfSeveralMembers_SameAsPlain()
    {
        // Concatenated members (gzip's own output for "cat a.gz b.gz"), an empty one among them, are one file.
        var members = Gzip(Images[..7]).Concat(Gzip([])).Concat(Gzip(Images[7..])).ToArray();

        using var plain = Read(Images, Labels);
        using var gzipped = IdxDatasetImporter.Read(NonSeekableStream.Of(members), new MemoryStream(Labels), Split.Train, "fm");

        Assert.True(TensorAssert.Identical(gzipped.Features, plain.Features));
    }

    [Fact]
    public void Read_GzipHeaderWithExtraNameCommentAndCrc_SkipsThemAndChecksTheCrc()
    {
        // Flags FHCRC | FEXTRA | FNAME | FCOMMENT, which .NET's writer never sets; the member's data is .NET's.
        byte[] header = [0x1f, 0x8b, 8, 0x1e, 0, 0, 0, 0, 0, 3, 2, 0, (byte)'A', (byte)'B', .. "images.idx\0comment\0"u8];
        var crc = new Crc32();
        crc.Update(header);
        byte[] member = [.. header, (byte)crc.Value, (byte)(crc.Value >> 8), .. Gzip(Images)[10..]];
        byte[] badCrc = [.. member];
        badCrc[header.Length] ^= 1;

        using var plain = Read(Images, Labels);
        using var gzipped = Read(member, Labels);
        var error = Assert.Throws<DatasetFormatException>(() => Read(badCrc, Labels));

        Assert.True(TensorAssert.Identical(gzipped.Features, plain.Features));
        Assert.Equal("IDX images: the gzip data is corrupt (header CRC check failed).", error.Message);
    }

    public static TheoryData<string, byte[], string> DamagedGzipFiles()
    {
        // Stored (uncompressed) deflate keeps the pixels in place, so one can be changed without breaking the deflate data.
        var image = Idx(0x08, [1, 8, 8], Enumerable.Range(0, 64).Select(i => (byte)i).ToArray());
        var gzip = Gzip(image, CompressionLevel.NoCompression);
        var changedPixel = (byte[])gzip.Clone();
        changedPixel[Array.IndexOf(gzip, (byte)40, 10)] = 200;
        var wrongLength = (byte[])gzip.Clone();
        wrongLength[^4]++;
        const string corrupt = "IDX images: the gzip data is corrupt";
        const string truncated = "IDX images: the gzip data is truncated (a member ends inside";
        return new TheoryData<string, byte[], string>
        {
            { "pixel changed", changedPixel, $"{corrupt} (CRC-32 check failed)." },
            { "pixel changed, trailer cut off", changedPixel[..^8], $"{truncated} its CRC-32 and length trailer)." },
            { "trailer cut off", gzip[..^8], $"{truncated} its CRC-32 and length trailer)." },
            { "trailer cut short", gzip[..^3], $"{truncated} its CRC-32 and length trailer)." },
            { "compressed data cut short", gzip[..^9], $"{truncated} its compressed data)." },
            { "length wrong", wrongLength, $"{corrupt} (length check failed)." },
            { "junk after the member", [.. gzip, 0], "IDX images: the gzip data is followed by bytes that are not another gzip member." },
            { "second member cut short", [.. gzip, 0x1f, 0x8b, 8], $"{truncated} its header)." },
            { "not deflate", [.. gzip, .. gzip[..2], 7, .. gzip[3..]], $"{corrupt} (compression method 7 is not deflate)." },
            { "invalid code lengths", Convert.FromBase64String("H4sIAAAAAP8AAQQDY2DgYGZgYA=="), $"{corrupt} (invalid Huffman code lengths)." },
        };
    }

    [Theory]
    [MemberData(nameof(DamagedGzipFiles))]
    public void Read_DamagedGzip_ThrowsCorruptOrTruncated(string caseName, byte[] images, string expectedMessage)
    {
        var labels = Idx(0x08, [1], [0]);

        var error = Assert.Throws<DatasetFormatException>(() => Read(images, labels).Dispose());

        Assert.True(error.Message == expectedMessage, $"{caseName}: expected '{expectedMessage}', got '{error.Message}'");
    }

    [Fact]
    public void OpenMaybeGzipped_DeflateDataWithoutEnd_StopsAtDeflatesLargestExpansion()
    {
        // SharpZipLib inflates these 17 bytes (which zlib rejects) without end when they arrive 7 at a time. The stream
        // is read 2 bytes first (the magic), then 7 at a time; a 4-byte extra field puts the deflate data on a boundary.
        byte[] member = [0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0, .. Convert.FromBase64String("DKcMIjuENoddOcuZBR+MfiA=")];
        using var input = ImportStreams.OpenMaybeGzipped(NonSeekableStream.Of(member), 10_000_000, "runaway");

        var error = Assert.Throws<DatasetFormatException>(() => input.CopyTo(Stream.Null));

        Assert.Equal("runaway: the gzip data is corrupt (it expands more than deflate data can).", error.Message);
    }

    [Fact]
    public void Read_CallerStreams_AreLeftOpen()
    {
        var images = new MemoryStream(Gzip(Images));
        var labels = new MemoryStream(Labels);

        using var dataset = IdxDatasetImporter.Read(images, labels, Split.Train, "fm");

        Assert.True(images.CanRead);
        Assert.True(labels.CanRead);
        Assert.Equal(labels.Length, labels.Position);
    }

    [Fact]
    public void Read_UndefinedSplit_ThrowsArgumentException()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            IdxDatasetImporter.Read(new MemoryStream(Images), new MemoryStream(Labels), (Split)99, "fm"));

        Assert.StartsWith("Split 99 is not one of Train, Test, Validation.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_SubjectIds_AreRecordedOrRejectedWhenMiscounted()
    {
        using var dataset = IdxDatasetImporter.Read(new MemoryStream(Images), new MemoryStream(Labels), Split.Train, "fm", ["alice", null, "bob"]);

        Assert.Equal(["alice", null, "bob"], dataset.SubjectIds);
        Assert.Throws<ArgumentException>(() =>
            IdxDatasetImporter.Read(new MemoryStream(Images), new MemoryStream(Labels), Split.Train, "fm", ["alice"]));
    }

    [Fact]
    public void Read_OtherPixelTypes_DecodeBigEndianAndScaleIntegerRange()
    {
        var f32 = new byte[8];
        BinaryPrimitives.WriteSingleBigEndian(f32, 0.25f);
        BinaryPrimitives.WriteSingleBigEndian(f32.AsSpan(4), 0.75f);
        var f64 = new byte[16];
        BinaryPrimitives.WriteDoubleBigEndian(f64, 0.5);
        BinaryPrimitives.WriteDoubleBigEndian(f64.AsSpan(8), 1.0);
        var i16 = new byte[4];
        BinaryPrimitives.WriteInt16BigEndian(i16, short.MinValue);
        BinaryPrimitives.WriteInt16BigEndian(i16.AsSpan(2), short.MaxValue);
        var i32 = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(i32, int.MinValue);
        BinaryPrimitives.WriteInt32BigEndian(i32.AsSpan(4), int.MaxValue);
        var labels = Idx(0x0C, [1], [0, 0, 0, 4]); // i32 label, big-endian 4

        using var asF32 = Read(Idx(0x0D, [1, 1, 2], f32), labels);
        using var asF64 = Read(Idx(0x0E, [1, 2, 1], f64), labels);
        using var asI16 = Read(Idx(0x0B, [1, 1, 2], i16), labels);
        using var asI32 = Read(Idx(0x0C, [1, 1, 2], i32), labels);
        using var asI8 = Read(Idx(0x09, [1, 1, 2], [0x80, 0x7F]), labels);

        Assert.Equal(new[] { 0.25f, 0.75f }, asF32.Features.data<float>().ToArray());
        Assert.Equal(new[] { 0.5f, 1f }, asF64.Features.data<float>().ToArray());
        Assert.Equal(new long[] { 1, 1, 2, 1 }, asF64.Features.shape);
        Assert.Equal(new[] { 0f, 1f }, asI16.Features.data<float>().ToArray());
        Assert.Equal(new[] { 0f, 1f }, asI32.Features.data<float>().ToArray());
        Assert.Equal(new[] { 0f, 1f }, asI8.Features.data<float>().ToArray());
        Assert.Equal(4L, asF32.Targets.item<long>());
        Assert.Equal(5, asF32.ClassCount);
    }

    public static TheoryData<string, byte[], byte[], string> MalformedFiles()
    {
        var nan = new byte[4];
        BinaryPrimitives.WriteSingleBigEndian(nan, float.NaN);
        return new TheoryData<string, byte[], byte[], string>
        {
            { "empty images", [], Labels, "IDX images: the file is shorter than the 4-byte IDX magic number." },
            { "bad magic", [0x1f, 0x00, 0x08, 0x03], Labels, "IDX images: the magic number must start with two zero bytes, not 0x1F 0x00 (is this an IDX file?)." },
            { "unknown type", Idx(0x0A, [3, 2, 2], Pixels), Labels, "IDX images: unknown IDX type code 0x0A; expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E." },
            { "images are 2-D", Idx(0x08, [3, 4], Pixels), Labels, "IDX images: expected 3 dimension(s), found 2." },
            { "labels are 2-D", Images, Idx(0x08, [3, 1], [7, 0, 2]), "IDX labels: expected 1 dimension(s), found 2." },
            { "dims cut short", Idx(0x08, [3, 2, 2], [])[..10], Labels, "IDX images: the file ends inside the list of dimensions." },
            { "data cut short", Idx(0x08, [3, 2, 2], Pixels[..11]), Labels, "IDX images: the dimensions [3, 2, 2] of UInt8 need 12 data bytes, but the file has 11." },
            { "trailing bytes", Idx(0x08, [3, 2, 2], [.. Pixels, 9]), Labels, "IDX images: the file goes on after the 12 data bytes that the dimensions [3, 2, 2] of UInt8 need." },
            { "zero width", Idx(0x08, [3, 2, 0], []), Labels, "IDX images: dimension 3 is zero." },
            { "no samples", Idx(0x08, [0, 2, 2], []), Idx(0x08, [0], []), "IDX images: the file holds no samples." },
            { "huge dims", Idx(0x08, [-1, -1, -1], []), Labels, "IDX images: 4294967295 samples are over the limit of 10000000." },
            { "dims over byte limit", Idx(0x0E, [10_000_000, 60_000, 60_000], []), Labels, "IDX images: the dimensions ask for over 2147483591 bytes of Float64 data, the limit." },
            { "NaN pixel", Idx(0x0D, [1, 1, 1], nan), Idx(0x08, [1], [0]), "IDX images: the value at position 0 of the data is not finite." },
            { "float labels", Images, Idx(0x0D, [3], new byte[12]), "IDX labels: the type is Float32, but labels must be an integer type (u8, i8, i16 or i32)." },
            { "negative label", Images, Idx(0x09, [3], [1, 0xFF, 2]), "IDX labels: the label of sample 1 is -1; labels must not be negative." },
            { "label over class limit", Images, Idx(0x0C, [3], [0, 0, 0, 1, 0, 0x0F, 0, 0, 0, 0, 0, 0]), "IDX labels: the label of sample 1 is 983040, over the limit of 100000 classes." },
            { "count mismatch", Images, Idx(0x08, [2], [1, 2]), "IDX: the labels file has 2 labels but the images file has 3 images." },
            { "corrupt gzip", [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff, 0x07, 0x02, 0x03], Labels, "IDX images: the gzip data is corrupt (" },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void Read_MalformedFile_ThrowsItsOwnMessage(string caseName, byte[] images, byte[] labels, string expectedMessageStart)
    {
        var error = Assert.Throws<DatasetFormatException>(() => Read(images, labels).Dispose());
        Assert.True(error.Message.StartsWith(expectedMessageStart, StringComparison.Ordinal),
            $"{caseName}: expected '{expectedMessageStart}', got '{error.Message}'");

        var gzipped = Assert.Throws<DatasetFormatException>(() =>
            IdxDatasetImporter.Read(NonSeekableStream.Of(Gzip(images)), NonSeekableStream.Of(Gzip(labels)), Split.Train, "fm").Dispose());
        if (caseName != "corrupt gzip")
            Assert.Equal(error.Message, gzipped.Message);
    }

    [Fact]
    public void Read_ConfiguredLimits_RejectSamplesBytesAndClasses()
    {
        var samples = Assert.Throws<DatasetFormatException>(() => Read(Images, Labels, new DatasetImportLimits { MaxSamples = 2 }));
        var bytes = Assert.Throws<DatasetFormatException>(() => Read(Images, Labels, new DatasetImportLimits { MaxBytes = 27 }));
        var classes = Assert.Throws<DatasetFormatException>(() => Read(Images, Labels, new DatasetImportLimits { MaxClasses = 7 }));
        // A small gzip whose header asks for more than the budget is refused before its data is inflated.
        var bomb = Idx(0x08, [1000, 100, 100], new byte[10_000_000]);
        var expanded = Assert.Throws<DatasetFormatException>(() =>
            IdxDatasetImporter.Read(new MemoryStream(Gzip(bomb[..1_000_000])), new MemoryStream(Labels), Split.Train, "fm",
                limits: new DatasetImportLimits { MaxBytes = 100_000 }));

        Assert.Equal("IDX images: 3 samples are over the limit of 2.", samples.Message);
        Assert.Equal("IDX images: the dimensions ask for over 27 bytes of UInt8 data, the limit.", bytes.Message);
        Assert.Equal("IDX labels: the label of sample 0 is 7, over the limit of 7 classes.", classes.Message);
        Assert.Equal("IDX images: the dimensions ask for over 100000 bytes of UInt8 data, the limit.", expanded.Message);
        using var exactlyAtLimit = Read(Images, Labels, new DatasetImportLimits { MaxBytes = 28 });
        using var largestLimit = Read(Images, Labels, new DatasetImportLimits { MaxBytes = long.MaxValue });
    }

    [Fact]
    public void ReadTrainTest_FourFiles_OneDatasetWithBothSplits()
    {
        var testImages = Idx(0x08, [2, 2, 2], [9, 9, 9, 9, 8, 8, 8, 8]);
        var testLabels = Idx(0x08, [2], [9, 1]);

        using var dataset = IdxDatasetImporter.ReadTrainTest(
            new MemoryStream(Gzip(Images)), new MemoryStream(Gzip(Labels)), new MemoryStream(testImages), new MemoryStream(testLabels),
            testSubjectIds: ["s1", "s2"]);

        Assert.Equal(["train-0", "train-1", "train-2", "test-0", "test-1"], dataset.SampleIds);
        Assert.Equal([Split.Train, Split.Train, Split.Train, Split.Test, Split.Test], dataset.Splits);
        Assert.Equal([null, null, null, "s1", "s2"], dataset.SubjectIds);
        Assert.Equal(new long[] { 7, 0, 2, 9, 1 }, dataset.Targets.data<long>().ToArray());
        Assert.Equal(10, dataset.ClassCount);
        Assert.Equal(new long[] { 5, 1, 2, 2 }, dataset.Features.shape);
        Assert.Equal(9 / 255f, dataset.Features[3, 0, 0, 0].item<float>());
    }

    [Fact]
    public void ReadTrainTest_DifferentImageSizes_Throws()
    {
        var error = Assert.Throws<DatasetFormatException>(() => IdxDatasetImporter.ReadTrainTest(
            new MemoryStream(Images), new MemoryStream(Labels),
            new MemoryStream(Idx(0x08, [1, 1, 4], [1, 2, 3, 4])), new MemoryStream(Idx(0x08, [1], [0]))));

        Assert.Equal("IDX: the training images are [2, 2] but the test images are [1, 4].", error.Message);
    }

    [Fact]
    public void ReadPairs_TrainTestAndValidation_OneDatasetWithThreeSplitsInOrder()
    {
        using var dataset = IdxDatasetImporter.ReadPairs([
            new IdxPair(new MemoryStream(Images), new MemoryStream(Labels), Split.Train, "train"),
            new IdxPair(new MemoryStream(Idx(0x08, [1, 2, 2], [1, 1, 1, 1])), new MemoryStream(Idx(0x08, [1], [3])), Split.Test, "test"),
            new IdxPair(new MemoryStream(Gzip(Idx(0x08, [2, 2, 2], [5, 5, 5, 5, 6, 6, 6, 6]))), new MemoryStream(Idx(0x08, [2], [4, 11])), Split.Validation, "validation"),
        ]);

        Assert.Equal(["train-0", "train-1", "train-2", "test-0", "validation-0", "validation-1"], dataset.SampleIds);
        Assert.Equal([Split.Train, Split.Train, Split.Train, Split.Test, Split.Validation, Split.Validation], dataset.Splits);
        Assert.Equal(12, dataset.ClassCount);
        Assert.Equal(6 / 255f, dataset.Features[5, 0, 0, 0].item<float>());
    }

    [Fact]
    public void ReadPairs_ValidationImagesOfAnotherSize_NamesBothSplits()
    {
        var error = Assert.Throws<DatasetFormatException>(() => IdxDatasetImporter.ReadPairs([
            new IdxPair(new MemoryStream(Images), new MemoryStream(Labels), Split.Train, "train"),
            new IdxPair(new MemoryStream(Idx(0x08, [1, 1, 4], [1, 2, 3, 4])), new MemoryStream(Idx(0x08, [1], [0])), Split.Validation, "validation"),
        ]));

        Assert.Equal("IDX: the training images are [2, 2] but the validation images are [1, 4].", error.Message);
    }

    [Fact]
    public void ReadPairs_SamePrefixTwice_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => IdxDatasetImporter.ReadPairs([
            new IdxPair(new MemoryStream(Images), new MemoryStream(Labels), Split.Train, "a"),
            new IdxPair(new MemoryStream(Images), new MemoryStream(Labels), Split.Validation, "a"),
        ]));

        Assert.Contains("prefix of its own", error.Message, StringComparison.Ordinal);
    }
}
