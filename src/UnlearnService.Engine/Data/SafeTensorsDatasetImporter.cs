using System.Text.Json;
using TorchSharp;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Data;

/// <summary>
/// Imports a dataset stored as safetensors: tensor <c>x</c> (features [N, ...], any float or integer dtype,
/// converted to float32 without scaling), tensor <c>y</c> (labels: an integer dtype [N] means classification
/// with labels ≥ 0; a float dtype [N] or [N, k], k ≥ 1, means regression), and optionally <c>split</c> (U8 [N]: 0 train,
/// 1 test, 2 validation; all train when absent). The <c>__metadata__</c> keys <c>sample_ids</c> and <c>subject_ids</c> may
/// hold JSON arrays of N strings (subject ids may also be null); other metadata keys are ignored.
/// </summary>
public static class SafeTensorsDatasetImporter
{
    const string Where = "safetensors dataset";

    /// <summary>Reads the dataset from a stream (read to its end and left open).</summary>
    /// <param name="stream">The safetensors bytes, from the current position.</param>
    /// <param name="idPrefix">Sample ids are "&lt;idPrefix&gt;-&lt;index&gt;" when the metadata has none.</param>
    /// <param name="limits">Size limits; <see cref="DatasetImportLimits.Default"/> when null.</param>
    /// <exception cref="DatasetFormatException">The file breaks the safetensors format, the dataset layout or the limits.</exception>
    public static Dataset Read(Stream stream, string idPrefix = "sample", DatasetImportLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(idPrefix);
        limits ??= DatasetImportLimits.Default;
        limits.Validate();

        SafeTensorsFile file;
        using (var input = new ImportStreams.LimitedReadStream(stream, limits.MaxBytes, Where, ownsInner: false))
        {
            try
            {
                file = SafeTensors.Read(input, new SafeTensorsLimits
                {
                    MaxHeaderBytes = Math.Clamp(limits.MaxBytes, 2, SafeTensorsLimits.Default.MaxHeaderBytes),
                    MaxDataBytes = limits.MaxBytes,
                }, RefuseUnexpectedNames);
            }
            catch (SafeTensorsFormatException e)
            {
                throw new DatasetFormatException($"{Where}: {e.Message}", e);
            }
        }
        using (file)
        {
            TorchRuntime.Initialize();
            using var scope = torch.NewDisposeScope();
            var dataset = Build(file, idPrefix, limits);
            scope.MoveToOuter(dataset.Features, dataset.Targets);
            return dataset;
        }
    }

    // Checked on the header, before any tensor is allocated: a file of many unexpected tensors costs nothing.
    static void RefuseUnexpectedNames(SafeTensorsHeader header)
    {
        foreach (var tensor in header.Tensors)
        {
            if (tensor.Name is not ("x" or "y" or "split"))
                throw Fail($"unexpected tensor {SafeTensorsHeader.Quote(tensor.Name)}; a dataset has x, y and optionally split.");
        }
    }

    static Dataset Build(SafeTensorsFile file, string idPrefix, DatasetImportLimits limits)
    {
        if (!file.TryGetTensor("x", out var x))
            throw Fail("there is no tensor 'x' (the features).");
        if (!file.TryGetTensor("y", out var y))
            throw Fail("there is no tensor 'y' (the labels or targets).");

        if (x.dim() == 0)
            throw Fail("x is a scalar; its first dimension must count the samples.");
        if (x.dtype == ScalarType.Bool)
            throw Fail("x is BOOL; features must be a float or integer dtype.");
        var n = x.shape[0];
        if (n == 0)
            throw Fail("x holds no samples.");
        if (n > limits.MaxSamples)
            throw Fail($"x holds {n} samples, over the limit of {limits.MaxSamples}.");
        if (y.dim() == 0 || y.shape[0] != n)
            throw Fail($"y has shape [{string.Join(", ", y.shape)}] but x has {n} samples; y's first dimension must match.");
        if (x.shape.Skip(1).Any(d => d == 0))
            throw Fail($"x has shape [{string.Join(", ", x.shape)}]; every sample needs at least one feature.");

        // x of shape [N] is one feature per sample, as a CSV with one feature column gives.
        var features = (x.dim() == 1 ? x.unsqueeze(1) : x).to(ScalarType.Float32);
        if (!features.isfinite().all().item<bool>())
            throw Fail("x holds a value that is not finite (or too large for float32).");

        var (task, targets, classCount) = Targets(y, limits);
        var count = (int)n;
        return new Dataset(
            features, targets,
            SampleIds(file.Metadata, count, idPrefix),
            SubjectIds(file.Metadata, count),
            Splits(file, count),
            task, classCount);
    }

    static (TaskKind, Tensor, int) Targets(Tensor y, DatasetImportLimits limits)
    {
        if (y.dtype is ScalarType.Int64 or ScalarType.Int32 or ScalarType.Int16 or ScalarType.Int8 or ScalarType.Byte)
        {
            if (y.dim() != 1)
                throw Fail($"y is an integer tensor (classification) of shape [{string.Join(", ", y.shape)}]; class labels must be one-dimensional [N].");
            var labels = y.to(ScalarType.Int64);
            var min = labels.min().item<long>();
            var max = labels.max().item<long>();
            if (min < 0)
                throw Fail($"y holds the label {min}; class labels must not be negative.");
            if (max >= limits.MaxClasses)
                throw Fail($"y holds the label {max}, over the limit of {limits.MaxClasses} classes.");
            return (TaskKind.Classification, labels, (int)max + 1);
        }
        if (y.dtype is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16)
        {
            if (y.dim() > 2)
                throw Fail($"y is a float tensor (regression) of shape [{string.Join(", ", y.shape)}]; targets must be [N] or [N, k].");
            if (y.dim() == 2 && y.shape[1] == 0)
                throw Fail($"y has shape [{string.Join(", ", y.shape)}]; every sample needs at least one target.");
            var targets = y.to(ScalarType.Float32);
            if (!targets.isfinite().all().item<bool>())
                throw Fail("y holds a target that is not finite (or too large for float32).");
            return (TaskKind.Regression, targets, 0);
        }
        throw Fail($"y is {y.dtype}; labels must be an integer dtype (classification) or a float dtype (regression).");
    }

    static Split[] Splits(SafeTensorsFile file, int n)
    {
        if (!file.TryGetTensor("split", out var split))
            return Enumerable.Repeat(Split.Train, n).ToArray();
        if (split.dtype != ScalarType.Byte || split.dim() != 1 || split.shape[0] != n)
            throw Fail($"split must be U8 of shape [{n}], not {split.dtype} of shape [{string.Join(", ", split.shape)}].");
        var values = split.data<byte>().ToArray();
        var bad = Array.FindIndex(values, v => v > 2);
        if (bad >= 0)
            throw Fail($"split of sample {bad} is {values[bad]}; it must be 0 (train), 1 (test) or 2 (validation).");
        return values.Select(v => (Split)v).ToArray();
    }

    static string[] SampleIds(IReadOnlyDictionary<string, string> metadata, int n, string idPrefix)
    {
        if (!metadata.TryGetValue("sample_ids", out var json))
            return Enumerable.Range(0, n).Select(i => $"{idPrefix}-{i}").ToArray();
        var ids = ParseStrings(json, "sample_ids", n, allowNull: false);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
        {
            if (string.IsNullOrEmpty(ids[i]))
                throw Fail($"sample_ids[{i}] is empty.");
            if (!seen.TryAdd(ids[i]!, i))
                throw Fail($"sample_ids[{i}] '{ids[i]}' repeats sample_ids[{seen[ids[i]!]}].");
        }
        return ids!;
    }

    static string?[] SubjectIds(IReadOnlyDictionary<string, string> metadata, int n)
    {
        if (!metadata.TryGetValue("subject_ids", out var json))
            return new string?[n];
        // An empty subject id means "none", as in the CSV importer.
        return ParseStrings(json, "subject_ids", n, allowNull: true).Select(s => string.IsNullOrEmpty(s) ? null : s).ToArray();
    }

    static string?[] ParseStrings(string json, string key, int n, bool allowNull)
    {
        var expected = allowNull ? "a JSON array of strings or nulls" : "a JSON array of strings";
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw Fail($"the metadata {key} is not valid JSON ({e.Message}); it must be {expected}.");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Array)
                throw Fail($"the metadata {key} is {root.ValueKind}; it must be {expected}.");
            if (root.GetArrayLength() != n)
                throw Fail($"the metadata {key} has {root.GetArrayLength()} entries for {n} samples.");
            var values = new string?[n];
            var i = 0;
            foreach (var item in root.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String)
                    values[i] = item.TryGetString(out var value) ? value : throw Fail($"{key}[{i}] is not a valid string (an unpaired surrogate escape?).");
                else if (!(allowNull && item.ValueKind == JsonValueKind.Null))
                    throw Fail($"{key}[{i}] is {item.ValueKind}; it must be {expected}.");
                i++;
            }
            return values;
        }
    }

    static bool TryGetString(this JsonElement element, out string? value)
    {
        try
        {
            value = element.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            // Escapes such as "\ud800" are valid JSON but decode to no valid string.
            value = null;
            return false;
        }
    }

    static DatasetFormatException Fail(string message) => new($"{Where}: {message}");
}
