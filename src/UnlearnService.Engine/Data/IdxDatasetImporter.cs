using System.Buffers.Binary;
using System.Runtime.InteropServices;
using TorchSharp;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Data;

/// <summary>
/// Imports image classification data in the IDX format of MNIST, Fashion-MNIST and their kin: an images file
/// ([N, H, W]) and a labels file ([N], integer type), each plain or gzipped (detected by the magic bytes 1f 8b; every
/// gzip member's CRC-32 and length are checked, and nothing may follow the last member).
/// </summary>
public static class IdxDatasetImporter
{
    /// <summary>
    /// Reads one images file and its labels file into a classification dataset with float32 features
    /// [N, 1, H, W] in [0, 1]. Integer pixels are scaled from their type's range (u8: divided by 255); float
    /// pixels are taken as they are and must be finite. The class count is the largest label + 1. The caller's
    /// streams are read to their end and left open.
    /// </summary>
    /// <param name="images">The images file, from its current position.</param>
    /// <param name="labels">The labels file, from its current position.</param>
    /// <param name="split">The split every sample belongs to.</param>
    /// <param name="idPrefix">Sample ids are "&lt;idPrefix&gt;-&lt;index&gt;", index from 0.</param>
    /// <param name="subjectIds">Optionally the data-subject id of each sample (null entries: none).</param>
    /// <param name="limits">Size limits; <see cref="DatasetImportLimits.Default"/> when null.</param>
    /// <exception cref="DatasetFormatException">A file breaks the IDX format, the limits, or does not match the other.</exception>
    /// <exception cref="ArgumentException">The subject ids do not number one per sample, or the split is undefined.</exception>
    public static Dataset Read(Stream images, Stream labels, Split split, string idPrefix,
        IReadOnlyList<string?>? subjectIds = null, DatasetImportLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentException.ThrowIfNullOrEmpty(idPrefix);
        limits ??= DatasetImportLimits.Default;
        limits.Validate();

        var imageArray = ReadFile(images, "IDX images", 3, limits);
        var labelArray = ReadFile(labels, "IDX labels", 1, limits);
        var n = imageArray.Dims[0];
        if (labelArray.Dims[0] != n)
            throw new DatasetFormatException($"IDX: the labels file has {labelArray.Dims[0]} labels but the images file has {n} images.");
        if (subjectIds is not null && subjectIds.Count != n)
            throw new ArgumentException($"{subjectIds.Count} subject ids were given for {n} samples.", nameof(subjectIds));
        var targets = DecodeLabels(labelArray, limits);

        TorchRuntime.Initialize();
        using var scope = torch.NewDisposeScope();
        var features = DecodeImages(imageArray);
        var labelTensor = torch.tensor(targets);
        var dataset = new Dataset(
            features, labelTensor,
            Enumerable.Range(0, n).Select(i => $"{idPrefix}-{i}").ToArray(),
            subjectIds?.ToArray() ?? new string?[n],
            Enumerable.Repeat(split, n).ToArray(),
            TaskKind.Classification,
            (int)targets.Max() + 1);
        scope.MoveToOuter(features, labelTensor);
        return dataset;
    }

    /// <summary>
    /// Reads a train pair and a test pair (e.g. the four Fashion-MNIST files) into one dataset: the training
    /// samples first, with ids "&lt;trainPrefix&gt;-&lt;index&gt;", then the test samples.
    /// </summary>
    /// <exception cref="DatasetFormatException">A file breaks the IDX format or the limits, or the images of the two pairs differ in size.</exception>
    /// <exception cref="ArgumentException">The subject ids do not number one per sample, or the prefixes are equal.</exception>
    public static Dataset ReadTrainTest(Stream trainImages, Stream trainLabels, Stream testImages, Stream testLabels,
        DatasetImportLimits? limits = null, string trainPrefix = "train", string testPrefix = "test",
        IReadOnlyList<string?>? trainSubjectIds = null, IReadOnlyList<string?>? testSubjectIds = null) =>
        ReadPairs([new IdxPair(trainImages, trainLabels, Split.Train, trainPrefix, trainSubjectIds),
            new IdxPair(testImages, testLabels, Split.Test, testPrefix, testSubjectIds)], limits);

    /// <summary>
    /// Reads several images/labels pairs, each one split (train, test, validation), into one dataset in the order
    /// given. Sample ids are "&lt;prefix&gt;-&lt;index&gt;" per pair; the class count is over all pairs.
    /// </summary>
    /// <exception cref="DatasetFormatException">A file breaks the IDX format or the limits, or two pairs' images differ in size.</exception>
    /// <exception cref="ArgumentException">No pair, two pairs with one prefix, subject ids that do not number one per sample, or an undefined split.</exception>
    public static Dataset ReadPairs(IReadOnlyList<IdxPair> pairs, DatasetImportLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Count == 0) throw new ArgumentException("Give at least one images/labels pair.", nameof(pairs));
        if (pairs.Select(p => p.Prefix).Distinct(StringComparer.Ordinal).Count() != pairs.Count)
            throw new ArgumentException("Each pair needs a prefix of its own, or sample ids would collide.", nameof(pairs));
        var parts = new List<Dataset>();
        try
        {
            foreach (var pair in pairs)
            {
                var part = Read(pair.Images, pair.Labels, pair.Split, pair.Prefix, pair.SubjectIds, limits);
                parts.Add(part);
                if (!part.SampleShape.SequenceEqual(parts[0].SampleShape))
                    throw new DatasetFormatException($"IDX: the {Describe(parts[0].Splits[0])} images are [{string.Join(", ", parts[0].SampleShape[1..])}] " +
                        $"but the {Describe(pair.Split)} images are [{string.Join(", ", part.SampleShape[1..])}].");
            }
            if (parts.Count == 1)
            {
                var only = parts[0];
                parts.Clear();
                return only;
            }
            using var scope = torch.NewDisposeScope();
            var all = Dataset.Concat(parts);
            scope.MoveToOuter(all.Features, all.Targets);
            return all;
        }
        finally
        {
            foreach (var part in parts) part.Dispose();
        }
    }

    static string Describe(Split split) => split switch { Split.Train => "training", Split.Test => "test", _ => "validation" };

    static IdxArray ReadFile(Stream stream, string what, int rank, DatasetImportLimits limits)
    {
        using var input = ImportStreams.OpenMaybeGzipped(stream, limits.MaxBytes, what);
        return IdxReader.Read(input, what, rank, limits);
    }

    static long[] DecodeLabels(IdxArray labels, DatasetImportLimits limits)
    {
        if (!labels.Type.IsInteger())
            throw new DatasetFormatException($"IDX labels: the type is {labels.Type}, but labels must be an integer type (u8, i8, i16 or i32).");
        var data = labels.Data.AsSpan();
        var values = new long[labels.Count];
        for (var i = 0; i < values.Length; i++)
        {
            long value = labels.Type switch
            {
                IdxType.UInt8 => data[i],
                IdxType.Int8 => (sbyte)data[i],
                IdxType.Int16 => BinaryPrimitives.ReadInt16BigEndian(data[(2 * i)..]),
                _ => BinaryPrimitives.ReadInt32BigEndian(data[(4 * i)..]),
            };
            if (value < 0)
                throw new DatasetFormatException($"IDX labels: the label of sample {i} is {value}; labels must not be negative.");
            if (value >= limits.MaxClasses)
                throw new DatasetFormatException($"IDX labels: the label of sample {i} is {value}, over the limit of {limits.MaxClasses} classes.");
            values[i] = value;
        }
        return values;
    }

    static Tensor DecodeImages(IdxArray images)
    {
        var (n, h, w) = (images.Dims[0], images.Dims[1], images.Dims[2]);
        var features = torch.empty([n, 1, h, w], ScalarType.Float32);
        using var flat = features.view(-1);
        var source = images.Data;
        var size = images.ElementSize;
        const int chunk = 1 << 18;
        for (long start = 0; start < images.Count; start += chunk)
        {
            var count = (int)Math.Min(chunk, images.Count - start);
            using var part = flat.narrow(0, start, count);
            var target = MemoryMarshal.Cast<byte, float>(part.bytes);
            var bytes = source.AsSpan((int)(start * size), count * size);
            if (images.Type == IdxType.UInt8)
            {
                // The common case (all of the MNIST family) needs neither decoding nor a finiteness check.
                for (var i = 0; i < count; i++)
                    target[i] = bytes[i] / 255f;
                continue;
            }
            for (var i = 0; i < count; i++)
            {
                var value = Decode(images.Type, bytes.Slice(i * size, size));
                if (!float.IsFinite(value))
                    throw new DatasetFormatException($"IDX images: the value at position {start + i} of the data is not finite.");
                target[i] = value;
            }
        }
        return features;
    }

    // Integer pixels map their type's full range onto [0, 1]; for u8 this is the usual division by 255.
    static float Decode(IdxType type, ReadOnlySpan<byte> b) => type switch
    {
        IdxType.UInt8 => b[0] / 255f,
        IdxType.Int8 => ((sbyte)b[0] + 128) / 255f,
        IdxType.Int16 => (BinaryPrimitives.ReadInt16BigEndian(b) + 32768) / 65535f,
        IdxType.Int32 => (float)((BinaryPrimitives.ReadInt32BigEndian(b) - (double)int.MinValue) / uint.MaxValue),
        IdxType.Float32 => BinaryPrimitives.ReadSingleBigEndian(b),
        _ => (float)BinaryPrimitives.ReadDoubleBigEndian(b),
    };
}

/// <summary>One IDX images file and its labels file, all of one split.</summary>
/// <param name="Images">The images file, from its current position (left open).</param>
/// <param name="Labels">The labels file, from its current position (left open).</param>
/// <param name="Split">The split of every sample in the pair.</param>
/// <param name="Prefix">Sample ids are "&lt;Prefix&gt;-&lt;index&gt;".</param>
/// <param name="SubjectIds">Optionally the data-subject id of each sample.</param>
public sealed record IdxPair(Stream Images, Stream Labels, Split Split, string Prefix, IReadOnlyList<string?>? SubjectIds = null);
