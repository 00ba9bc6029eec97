using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Data;

/// <summary>How to read a CSV dataset.</summary>
public sealed record CsvImportOptions
{
    /// <summary>The column holding the label (classification) or target (regression); default <c>label</c>.</summary>
    public string TargetColumn { get; init; } = "label";

    /// <summary>Classification (the default) or regression.</summary>
    public TaskKind Task { get; init; } = TaskKind.Classification;

    /// <summary>Generated sample ids are "&lt;IdPrefix&gt;-&lt;index&gt;" (index from 0) when there is no <c>id</c> column.</summary>
    public string IdPrefix { get; init; } = "row";
}

/// <summary>
/// Imports tabular data from RFC 4180 CSV (UTF-8). The header row is required. Columns <c>id</c> (unique,
/// non-empty; generated when absent), <c>subject</c> (empty means none) and <c>split</c> (<c>train</c> or
/// <c>test</c>; all train when absent) are optional; the target column is required; every other column is a
/// numeric feature (invariant culture, finite float32). Classification labels are either all integers ≥ 0 (used
/// as class indices) or otherwise names, mapped to class indices in ordinal sorted order and recorded in
/// <see cref="Dataset.ClassNames"/>. Regression targets are finite numbers.
/// </summary>
public static class CsvDatasetImporter
{
    const string IdColumn = "id";
    const string SubjectColumn = "subject";
    const string SplitColumn = "split";

    /// <summary>Reads a CSV dataset from a stream (read to its end and left open).</summary>
    /// <exception cref="DatasetFormatException">The text breaks CSV, the column rules or the limits; the message gives the row and column.</exception>
    /// <exception cref="ArgumentException">The target column is empty or one of id, subject, split, or the task is undefined.</exception>
    public static Dataset Read(Stream stream, CsvImportOptions? options = null, DatasetImportLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        options ??= new CsvImportOptions();
        limits ??= DatasetImportLimits.Default;
        limits.Validate();
        if (string.IsNullOrEmpty(options.TargetColumn) || options.TargetColumn is IdColumn or SubjectColumn or SplitColumn)
            throw new ArgumentException($"The target column cannot be '{options.TargetColumn}'.", nameof(options));
        ArgumentException.ThrowIfNullOrEmpty(options.IdPrefix, nameof(options));
        EnumNames.ThrowIfUndefined(options.Task, "Task", nameof(options));

        using var input = new ImportStreams.LimitedReadStream(stream, limits.MaxBytes, "CSV", ownsInner: false);
        // StreamReader decodes whole buffers ahead of the parser, so a throwing decoder could not say where the
        // bad bytes are. Decoding them to a sentinel lets the record reader report their row and column.
        // This encoding's preamble is the UTF-8 byte order mark, which StreamReader then skips.
        var encoding = Encoding.GetEncoding("utf-8", EncoderFallback.ExceptionFallback,
            new DecoderReplacementFallback(CsvRecordReader.InvalidText.ToString()));
        using var text = new StreamReader(input, encoding, detectEncodingFromByteOrderMarks: false, bufferSize: 64 * 1024, leaveOpen: true);
        return Parse(new CsvRecordReader(text, limits.MaxColumns, limits.MaxFieldCharacters), options, limits);
    }

    sealed class Columns
    {
        public int Id = -1, Subject = -1, Split = -1, Target = -1;
        public List<int> Features = [];
        public string[] Names = [];
    }

    static Dataset Parse(CsvRecordReader records, CsvImportOptions options, DatasetImportLimits limits)
    {
        var fields = new List<string>();
        if (!records.ReadRecord(fields))
            throw new DatasetFormatException("CSV: the file is empty; a header row is required.");
        var columns = ReadHeader(fields, options.TargetColumn);

        var features = new List<float>();
        var ids = new List<string>();
        var idRows = new Dictionary<string, int>(StringComparer.Ordinal);
        var subjects = new List<string?>();
        var splits = new List<Split>();
        var targets = new List<string>();
        while (records.ReadRecord(fields))
        {
            var row = records.Row;
            if (ids.Count == limits.MaxSamples)
                throw new DatasetFormatException($"CSV row {row}: more than {limits.MaxSamples} samples, the limit.");
            if (fields.Count != columns.Names.Length)
                throw new DatasetFormatException($"CSV row {row} has {fields.Count} field(s) but the header has {columns.Names.Length}.");
            if ((long)features.Count + columns.Features.Count > Array.MaxLength)
                throw new DatasetFormatException($"CSV row {row}: the features exceed {Array.MaxLength} values, more than one tensor can hold.");

            foreach (var c in columns.Features)
            {
                if (!float.TryParse(fields[c], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !float.IsFinite(value))
                    throw Cell(row, c, columns, $"{Shorten(fields[c])} is not a finite number.");
                features.Add(value);
            }

            string id;
            if (columns.Id >= 0)
            {
                id = fields[columns.Id];
                if (id.Length == 0)
                    throw Cell(row, columns.Id, columns, "the id is empty.");
                if (!idRows.TryAdd(id, row))
                    throw Cell(row, columns.Id, columns, $"the id {Shorten(id)} already appears in row {idRows[id]}.");
            }
            else
            {
                id = $"{options.IdPrefix}-{ids.Count}";
            }
            ids.Add(id);

            subjects.Add(columns.Subject >= 0 && fields[columns.Subject].Length > 0 ? fields[columns.Subject] : null);
            splits.Add(columns.Split < 0 ? Split.Train : fields[columns.Split] switch
            {
                "train" => Split.Train,
                "test" => Split.Test,
                "validation" => Split.Validation,
                var other => throw Cell(row, columns.Split, columns, $"unknown split {Shorten(other)}; expected train, test or validation."),
            });

            var target = fields[columns.Target];
            if (target.Length == 0)
                throw Cell(row, columns.Target, columns, "the target is empty.");
            targets.Add(target);
        }
        if (ids.Count == 0)
            throw new DatasetFormatException("CSV: the file has a header but no data rows.");

        var (targetTensor, classCount, classNames) = options.Task == TaskKind.Classification
            ? ClassLabels(targets, columns, limits)
            : RegressionTargets(targets, columns);

        TorchRuntime.Initialize();
        using var scope = torch.NewDisposeScope();
        var featureTensor = ToTensor(CollectionsMarshal.AsSpan(features), [ids.Count, columns.Features.Count]);
        var dataset = new Dataset(featureTensor, targetTensor, ids, subjects, splits, options.Task, classCount, classNames);
        scope.MoveToOuter(featureTensor, targetTensor);
        return dataset;
    }

    static Columns ReadHeader(List<string> header, string targetColumn)
    {
        var columns = new Columns { Names = [.. header] };
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var c = 0; c < header.Count; c++)
        {
            var name = header[c];
            if (name.Length == 0)
                throw new DatasetFormatException($"CSV row 1, column {c + 1}: the column name is empty.");
            if (!seen.TryAdd(name, c))
                throw new DatasetFormatException($"CSV row 1, column {c + 1}: the column name {Shorten(name)} already names column {seen[name] + 1}.");
            switch (name)
            {
                case IdColumn: columns.Id = c; break;
                case SubjectColumn: columns.Subject = c; break;
                case SplitColumn: columns.Split = c; break;
                default:
                    if (name == targetColumn) columns.Target = c;
                    else columns.Features.Add(c);
                    break;
            }
        }
        if (columns.Target < 0)
            throw new DatasetFormatException($"CSV row 1: there is no target column {Shorten(targetColumn)}.");
        if (columns.Features.Count == 0)
            throw new DatasetFormatException("CSV row 1: there are no feature columns besides id, subject, split and the target.");
        return columns;
    }

    static (Tensor, int, IReadOnlyList<string>?) ClassLabels(List<string> targets, Columns columns, DatasetImportLimits limits)
    {
        var indices = new long[targets.Count];
        var allIntegers = true;
        for (var i = 0; i < targets.Count && allIntegers; i++)
            allIntegers = long.TryParse(targets[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out indices[i]);

        if (allIntegers)
        {
            for (var i = 0; i < indices.Length; i++)
            {
                if (indices[i] < 0)
                    throw Cell(i + 2, columns.Target, columns, $"the label {indices[i]} is negative; integer labels are class indices from 0.");
                if (indices[i] >= limits.MaxClasses)
                    throw Cell(i + 2, columns.Target, columns, $"the label {indices[i]} is over the limit of {limits.MaxClasses} classes.");
            }
            return (torch.tensor(indices), (int)indices.Max() + 1, null);
        }

        // Ordinal order makes the mapping independent of the machine's culture and of row order.
        var names = targets.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        if (names.Length > limits.MaxClasses)
            throw new DatasetFormatException($"CSV column {columns.Target + 1} ({Shorten(columns.Names[columns.Target])}): {names.Length} distinct labels, over the limit of {limits.MaxClasses} classes.");
        var index = names.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => (long)p.i, StringComparer.Ordinal);
        for (var i = 0; i < targets.Count; i++)
            indices[i] = index[targets[i]];
        return (torch.tensor(indices), names.Length, names);
    }

    static (Tensor, int, IReadOnlyList<string>?) RegressionTargets(List<string> targets, Columns columns)
    {
        var values = new float[targets.Count];
        for (var i = 0; i < values.Length; i++)
        {
            if (!float.TryParse(targets[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !float.IsFinite(values[i]))
                throw Cell(i + 2, columns.Target, columns, $"{Shorten(targets[i])} is not a finite number.");
        }
        return (torch.tensor(values), 0, null);
    }

    static Tensor ToTensor(ReadOnlySpan<float> values, long[] shape)
    {
        var tensor = torch.empty(shape, ScalarType.Float32);
        using var flat = tensor.view(-1);
        const int chunk = 1 << 18;
        for (var start = 0; start < values.Length; start += chunk)
        {
            var count = Math.Min(chunk, values.Length - start);
            using var part = flat.narrow(0, start, count);
            values.Slice(start, count).CopyTo(MemoryMarshal.Cast<byte, float>(part.bytes));
        }
        return tensor;
    }

    static DatasetFormatException Cell(int row, int column, Columns columns, string message) =>
        new($"CSV row {row}, column {column + 1} ({Shorten(columns.Names[column])}): {message}");

    static string Shorten(string value) => value.Length <= 40 ? $"'{value}'" : $"'{value[..40]}…'";
}
