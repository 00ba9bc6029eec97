using TorchSharp;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Data;

/// <summary>Seeded reshaping of a dataset for experiments: subsets, a validation split, synthetic subjects.</summary>
public static class DatasetPreparation
{
    /// <summary>
    /// Keeps a seeded random subset of <paramref name="trainCount"/> training samples (all when null), turns
    /// <paramref name="validationCount"/> further training samples into the validation split, drops the other
    /// training samples, and keeps every test and validation sample. Samples stay in their original order.
    /// </summary>
    public static Dataset Subsample(Dataset dataset, int? trainCount, int validationCount, long seed)
    {
        var train = dataset.IndicesOf(Split.Train);
        var keep = trainCount ?? train.Length - validationCount;
        if (keep < 1 || validationCount < 0 || keep + validationCount > train.Length)
            throw new ArgumentException($"Cannot keep {keep} training and {validationCount} validation samples out of {train.Length} training samples.");
        var shuffled = train.ToArray();
        new Random(unchecked((int)seed ^ (int)(seed >> 32))).Shuffle(shuffled);
        var kept = shuffled.Take(keep).ToHashSet();
        var validation = shuffled.Skip(keep).Take(validationCount).ToHashSet();

        var indices = new List<long>();
        var splits = new List<Split>();
        for (var i = 0L; i < dataset.Count; i++)
        {
            var split = dataset.Splits[(int)i];
            if (split == Split.Train && !kept.Contains(i) && !validation.Contains(i)) continue;
            indices.Add(i);
            splits.Add(validation.Contains(i) ? Split.Validation : split);
        }
        using var index = torch.tensor(indices.ToArray(), ScalarType.Int64);
        return new Dataset(
            dataset.Features.index_select(0, index),
            dataset.Targets.index_select(0, index),
            indices.Select(i => dataset.SampleIds[(int)i]).ToArray(),
            indices.Select(i => dataset.SubjectIds[(int)i]).ToArray(),
            splits,
            dataset.Task,
            dataset.ClassCount,
            dataset.ClassNames);
    }

    /// <summary>
    /// Gives every training sample without a subject id a synthetic one, in blocks of <paramref name="samplesPerSubject"/>
    /// consecutive training samples ("{prefix}-0", "{prefix}-1", …). Returns a new dataset sharing no tensors.
    /// </summary>
    public static Dataset AssignSubjects(Dataset dataset, int samplesPerSubject, string prefix = "subject")
    {
        if (samplesPerSubject < 1) throw new ArgumentException("A subject needs at least one sample.", nameof(samplesPerSubject));
        var subjects = new string?[dataset.Count];
        var position = 0;
        for (var i = 0; i < dataset.Count; i++)
        {
            subjects[i] = dataset.SubjectIds[i];
            if (dataset.Splits[i] == Split.Train && subjects[i] is null)
                subjects[i] = $"{prefix}-{position++ / samplesPerSubject}";
        }
        return new Dataset(dataset.Features.clone(), dataset.Targets.clone(), dataset.SampleIds, subjects, dataset.Splits,
            dataset.Task, dataset.ClassCount, dataset.ClassNames);
    }
}
