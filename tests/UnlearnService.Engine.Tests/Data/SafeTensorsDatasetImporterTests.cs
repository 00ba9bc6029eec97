using System.Text.Json;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Data;

public sealed class SafeTensorsDatasetImporterTests
{
    public SafeTensorsDatasetImporterTests() => TorchRuntime.Initialize();

    static byte[] File(Func<(string, Tensor)[]> tensors, Dictionary<string, string>? metadata = null)
    {
        using var scope = torch.NewDisposeScope();
        using var stream = new MemoryStream();
        SafeTensors.Write(stream, tensors(), metadata);
        return stream.ToArray();
    }

    static string Json(params string?[] values) => JsonSerializer.Serialize(values);

    static Tensor X(int n = 3) => torch.arange(n * 4, dtype: ScalarType.Byte).reshape(n, 2, 2);
    static Tensor Y(params long[] labels) => torch.tensor(labels);

    [Fact]
    public void Read_ClassificationWithSplitAndIds_ConvertsAndKeepsEverything()
    {
        var bytes = File(() => [("x", X()), ("y", torch.tensor(new[] { 2, 0, 1 })), ("split", torch.tensor(new byte[] { 0, 1, 0 }))],
            new() { ["sample_ids"] = Json("a", "b", "c"), ["subject_ids"] = Json("s1", null, ""), ["format"] = "pt" });

        using var dataset = SafeTensorsDatasetImporter.Read(new MemoryStream(bytes));

        Assert.Equal(ScalarType.Float32, dataset.Features.dtype);
        Assert.Equal(new long[] { 3, 2, 2 }, dataset.Features.shape);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (float)i), dataset.Features.data<float>().ToArray());
        Assert.Equal(ScalarType.Int64, dataset.Targets.dtype);
        Assert.Equal(new long[] { 2, 0, 1 }, dataset.Targets.data<long>().ToArray());
        Assert.Equal(TaskKind.Classification, dataset.Task);
        Assert.Equal(3, dataset.ClassCount);
        Assert.Equal(["a", "b", "c"], dataset.SampleIds);
        Assert.Equal(["s1", null, null], dataset.SubjectIds);
        Assert.Equal([Split.Train, Split.Test, Split.Train], dataset.Splits);
    }

    [Fact]
    public void Read_FloatTargetsWithoutMetadata_IsRegressionWithGeneratedIds()
    {
        var bytes = File(() => [("x", torch.randn(4, 3, dtype: ScalarType.Float64)), ("y", torch.ones(4, 2, dtype: ScalarType.Float16))]);

        using var dataset = SafeTensorsDatasetImporter.Read(NonSeekableStream.Of(bytes), idPrefix: "house");

        Assert.Equal(TaskKind.Regression, dataset.Task);
        Assert.Equal(ScalarType.Float32, dataset.Targets.dtype);
        Assert.Equal(new long[] { 4, 2 }, dataset.Targets.shape);
        Assert.Equal(0, dataset.ClassCount);
        Assert.Equal(["house-0", "house-1", "house-2", "house-3"], dataset.SampleIds);
        Assert.All(dataset.Splits, s => Assert.Equal(Split.Train, s));
        Assert.All(dataset.SubjectIds, Assert.Null);
    }

    [Fact]
    public void Read_DatasetFeaturesOutliveTheFile_AreUsable()
    {
        // x is already float32, so the conversion may share storage with the file's tensor, which is disposed.
        var bytes = File(() => [("x", torch.full(2, 3, 1.5f)), ("y", Y(0, 1))]);

        using var dataset = SafeTensorsDatasetImporter.Read(new MemoryStream(bytes));

        Assert.Equal(9f, dataset.Features.sum().item<float>());
    }

    [Fact]
    public void Read_OneDimensionalX_IsOneFeaturePerSample()
    {
        var bytes = File(() => [("x", torch.tensor(new[] { 0.5f, 1.5f, 2.5f })), ("y", Y(0, 1, 0))]);

        using var dataset = SafeTensorsDatasetImporter.Read(new MemoryStream(bytes));

        Assert.Equal([1L], dataset.SampleShape);
        Assert.Equal(1.5f, dataset.Features[1, 0].item<float>());
    }

    public static TheoryData<string, byte[], string> MalformedFiles() => new()
    {
        { "not safetensors", [1, 2, 3], "safetensors dataset: The file is shorter than 8 bytes, so it has no header length." },
        { "no x", File(() => [("y", Y(0))]), "safetensors dataset: there is no tensor 'x' (the features)." },
        { "no y", File(() => [("x", X())]), "safetensors dataset: there is no tensor 'y' (the labels or targets)." },
        { "extra tensor", File(() => [("x", X()), ("y", Y(0, 1, 2)), ("w", X())]), "safetensors dataset: unexpected tensor 'w'; a dataset has x, y and optionally split." },
        { "scalar x", File(() => [("x", torch.tensor(1f)), ("y", Y(0))]), "safetensors dataset: x is a scalar; its first dimension must count the samples." },
        { "bool x", File(() => [("x", torch.ones(3, 2, dtype: ScalarType.Bool)), ("y", Y(0, 1, 2))]), "safetensors dataset: x is BOOL; features must be a float or integer dtype." },
        { "no features", File(() => [("x", torch.empty(3, 0)), ("y", Y(0, 1, 2))]), "safetensors dataset: x has shape [3, 0]; every sample needs at least one feature." },
        { "no samples", File(() => [("x", torch.empty(0, 2)), ("y", torch.empty(0, dtype: ScalarType.Int64))]), "safetensors dataset: x holds no samples." },
        { "NaN feature", File(() => [("x", torch.tensor(new[] { 1f, float.NaN })), ("y", Y(0, 1))]), "safetensors dataset: x holds a value that is not finite (or too large for float32)." },
        { "float64 beyond float32", File(() => [("x", torch.tensor(new[] { 1e300 })), ("y", Y(0))]), "safetensors dataset: x holds a value that is not finite (or too large for float32)." },
        { "y too short", File(() => [("x", X()), ("y", Y(0, 1))]), "safetensors dataset: y has shape [2] but x has 3 samples; y's first dimension must match." },
        { "bool y", File(() => [("x", X()), ("y", torch.ones(3, dtype: ScalarType.Bool))]), "safetensors dataset: y is Bool; labels must be an integer dtype (classification) or a float dtype (regression)." },
        { "2-D int y", File(() => [("x", X()), ("y", torch.zeros(3, 2, dtype: ScalarType.Int64))]), "safetensors dataset: y is an integer tensor (classification) of shape [3, 2]; class labels must be one-dimensional [N]." },
        { "no targets", File(() => [("x", X()), ("y", torch.empty(3, 0))]), "safetensors dataset: y has shape [3, 0]; every sample needs at least one target." },
        { "3-D float y", File(() => [("x", X()), ("y", torch.zeros(3, 2, 2))]), "safetensors dataset: y is a float tensor (regression) of shape [3, 2, 2]; targets must be [N] or [N, k]." },
        { "infinite target", File(() => [("x", X()), ("y", torch.tensor(new[] { 1f, float.PositiveInfinity, 0f }))]), "safetensors dataset: y holds a target that is not finite (or too large for float32)." },
        { "negative label", File(() => [("x", X()), ("y", Y(0, -3, 1))]), "safetensors dataset: y holds the label -3; class labels must not be negative." },
        { "label over class limit", File(() => [("x", X()), ("y", Y(0, 100_000, 1))]), "safetensors dataset: y holds the label 100000, over the limit of 100000 classes." },
        { "split int64", File(() => [("x", X()), ("y", Y(0, 1, 2)), ("split", torch.zeros(3, dtype: ScalarType.Int64))]), "safetensors dataset: split must be U8 of shape [3], not Int64 of shape [3]." },
        { "split value 3", File(() => [("x", X()), ("y", Y(0, 1, 2)), ("split", torch.tensor(new byte[] { 0, 3, 1 }))]), "safetensors dataset: split of sample 1 is 3; it must be 0 (train), 1 (test) or 2 (validation)." },
        { "sample_ids not JSON", File(() => [("x", X()), ("y", Y(0, 1, 2))], new() { ["sample_ids"] = "a,b,c" }), "safetensors dataset: the metadata sample_ids is not valid JSON (" },
        { "sample_ids object", File(() => [("x", X()), ("y", Y(0, 1, 2))], new() { ["sample_ids"] = "{}" }), "safetensors dataset: the metadata sample_ids is Object; it must be a JSON array of strings." },
        { "sample_ids miscounted", File(() => [("x", X()), ("y", Y(0, 1, 2))], new() { ["sample_ids"] = Json("a", "b") }), "safetensors dataset: the metadata sample_ids has 2 entries for 3 samples." },
        { "sample id number", File(() => [("x", X()), ("y", Y(0, 1, 2))], new() { ["sample_ids"] = "[\"a\",2,\"c\"]" }), "safetensors dataset: sample_ids[1] is Number; it must be a JSON array of strings." },
        { "sample id null", File(() => [("x", X()), ("y", Y(0, 1, 2))], new() { ["sample_ids"] = Json("a", null, "c") }), "safetensors dataset: sample_ids[1] is Null; it must be a JSON array of strings." },
        { "sample id empty", File(() => [("x", X()), ("y", Y(0, 1, 2))], new() { ["sample_ids"] = Json("a", "", "c") }), "safetensors dataset: sample_ids[1] is empty." },
        { "sample id repeated", File(() => [("x", X()), ("y", Y(0, 1, 2))], new() { ["sample_ids"] = Json("a", "b", "a") }), "safetensors dataset: sample_ids[2] 'a' repeats sample_ids[0]." },
        { "sample id lone surrogate", File(() => [("x", X()), ("y", Y(0, 1, 2))], new() { ["sample_ids"] = "[\"a\",\"\\ud800\",\"c\"]" }), "safetensors dataset: sample_ids[1] is not a valid string (an unpaired surrogate escape?)." },
        { "subject id number", File(() => [("x", X()), ("y", Y(0, 1, 2))], new() { ["subject_ids"] = "[\"a\",null,3]" }), "safetensors dataset: subject_ids[2] is Number; it must be a JSON array of strings or nulls." },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void Read_MalformedFile_ThrowsItsOwnMessage(string caseName, byte[] bytes, string expectedMessageStart)
    {
        var error = Assert.Throws<DatasetFormatException>(() => SafeTensorsDatasetImporter.Read(new MemoryStream(bytes)).Dispose());

        Assert.True(error.Message.StartsWith(expectedMessageStart, StringComparison.Ordinal),
            $"{caseName}: expected '{expectedMessageStart}', got '{error.Message}'");
    }

    [Fact]
    public void Read_UnexpectedTensor_RefusedBeforeAnyTensorIsRead()
    {
        // The header promises 4 bytes that never come: reading tensors would fail on them, the header check comes first.
        var bytes = Formats.SafeTensorsTests.RawFile("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""");

        var error = Assert.Throws<DatasetFormatException>(() => SafeTensorsDatasetImporter.Read(NonSeekableStream.Of(bytes)));

        Assert.Equal("safetensors dataset: unexpected tensor 'w'; a dataset has x, y and optionally split.", error.Message);
    }

    [Fact]
    public void Read_FeaturesBeyondMemoryWithByteLimitRaised_ThrowsDatasetFormatException()
    {
        var error = Assert.Throws<DatasetFormatException>(() => SafeTensorsDatasetImporter.Read(
            NonSeekableStream.Of(Formats.SafeTensorsTests.UnallocatableFile("x")), limits: new DatasetImportLimits { MaxBytes = long.MaxValue }));

        Assert.Equal($"safetensors dataset: Tensor 'x' needs {1L << 58} bytes of memory, which could not be allocated.", error.Message);
    }

    [Fact]
    public void Read_ConfiguredLimits_RejectSamplesAndBytes()
    {
        var bytes = File(() => [("x", X(5)), ("y", Y(0, 1, 2, 3, 4))]);

        var samples = Assert.Throws<DatasetFormatException>(() =>
            SafeTensorsDatasetImporter.Read(new MemoryStream(bytes), limits: new DatasetImportLimits { MaxSamples = 4 }));
        var size = Assert.Throws<DatasetFormatException>(() =>
            SafeTensorsDatasetImporter.Read(NonSeekableStream.Of(bytes), limits: new DatasetImportLimits { MaxBytes = bytes.Length - 1 }));

        Assert.Equal("safetensors dataset: x holds 5 samples, over the limit of 4.", samples.Message);
        Assert.Equal($"safetensors dataset: the data is larger than the limit of {bytes.Length - 1} bytes.", size.Message);
        using var atLimit = SafeTensorsDatasetImporter.Read(NonSeekableStream.Of(bytes), limits: new DatasetImportLimits { MaxBytes = bytes.Length });
    }
}
