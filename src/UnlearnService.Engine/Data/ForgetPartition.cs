using UnlearnService.Engine.Evaluation;

namespace UnlearnService.Engine.Data;

/// <summary>What to forget: sample ids, data-subject ids, or one class. Exactly one of them.</summary>
public sealed record ForgetSpec
{
    /// <summary>Ids of training samples to forget.</summary>
    public IReadOnlyList<string>? SampleIds { get; init; }

    /// <summary>Data subjects whose training samples are all forgotten.</summary>
    public IReadOnlyList<string>? SubjectIds { get; init; }

    /// <summary>A class whose training samples are all forgotten (class-wise forgetting).</summary>
    public int? Class { get; init; }

    /// <summary>The kind of forgetting this spec asks for.</summary>
    public ForgetKind Kind => Class is not null ? ForgetKind.Class : SubjectIds is not null ? ForgetKind.Subjects : ForgetKind.Samples;
}

/// <summary>
/// The index sets a run works on: Df, Dr = training samples not in Df (and not forgotten earlier), T (without the
/// forgotten class in class-wise forgetting) and the validation split when the dataset has one.
/// </summary>
public sealed record ForgetPartition(long[] Forget, long[] Retain, long[] Test, long[] Validation, ForgetKind Kind, int? Class)
{
    /// <summary>
    /// Resolves <paramref name="spec"/> against <paramref name="dataset"/>. Samples in
    /// <paramref name="alreadyForgotten"/> (ids forgotten by earlier runs of the lineage) are in neither Df nor Dr.
    /// </summary>
    /// <exception cref="ArgumentException">The spec is empty or ambiguous, names unknown ids or a test sample, or selects nothing.</exception>
    public static ForgetPartition Resolve(Dataset dataset, ForgetSpec spec, IReadOnlySet<string>? alreadyForgotten = null)
    {
        var given = (spec.SampleIds is not null ? 1 : 0) + (spec.SubjectIds is not null ? 1 : 0) + (spec.Class is not null ? 1 : 0);
        if (given != 1) throw new ArgumentException("Give exactly one of sample ids, subject ids or a class to forget.");
        var gone = alreadyForgotten ?? new HashSet<string>();
        var forget = new HashSet<long>();
        long[]? labels = null; // read once, for class forgetting only (the dataset's targets live on the CPU)

        if (spec.SampleIds is { } ids)
        {
            var index = new Dictionary<string, int>(dataset.Count, StringComparer.Ordinal);
            for (var i = 0; i < dataset.Count; i++) index[dataset.SampleIds[i]] = i;
            var unknown = ids.Where(id => !index.ContainsKey(id)).Distinct().ToList();
            if (unknown.Count > 0)
                throw new ArgumentException($"Unknown sample ids: {string.Join(", ", unknown.Take(10))}{(unknown.Count > 10 ? $" and {unknown.Count - 10} more" : "")}.");
            var notTraining = ids.Where(id => dataset.Splits[index[id]] != Split.Train).Distinct().ToList();
            if (notTraining.Count > 0)
                throw new ArgumentException($"Only training samples can be forgotten; not training samples: {string.Join(", ", notTraining.Take(10))}.");
            foreach (var id in ids) forget.Add(index[id]);
        }
        else if (spec.SubjectIds is { } subjects)
        {
            var wanted = subjects.ToHashSet(StringComparer.Ordinal);
            var found = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < dataset.Count; i++)
            {
                if (dataset.Splits[i] == Split.Train && dataset.SubjectIds[i] is { } subject && wanted.Contains(subject))
                {
                    forget.Add(i);
                    found.Add(subject);
                }
            }
            var unknown = wanted.Except(found).Order(StringComparer.Ordinal).ToList();
            if (unknown.Count > 0)
                throw new ArgumentException($"No training samples of subjects: {string.Join(", ", unknown.Take(10))}{(unknown.Count > 10 ? $" and {unknown.Count - 10} more" : "")}.");
        }
        else
        {
            var cls = spec.Class!.Value;
            if (dataset.Task != TaskKind.Classification || cls < 0 || cls >= dataset.ClassCount)
                throw new ArgumentException($"Class {cls} does not exist (the dataset has {dataset.ClassCount} classes).");
            labels = dataset.Targets.data<long>().ToArray();
            for (var i = 0; i < dataset.Count; i++)
                if (dataset.Splits[i] == Split.Train && labels[i] == cls) forget.Add(i);
        }

        forget.RemoveWhere(i => gone.Contains(dataset.SampleIds[(int)i]));
        if (forget.Count == 0) throw new ArgumentException("The spec selects no training sample that is still present.");

        var retain = new List<long>();
        var test = new List<long>();
        var validation = new List<long>();
        for (var i = 0; i < dataset.Count; i++)
        {
            switch (dataset.Splits[i])
            {
                case Split.Train when !forget.Contains(i) && !gone.Contains(dataset.SampleIds[i]):
                    retain.Add(i);
                    break;
                case Split.Test when spec.Class is null || labels![i] != spec.Class:
                    test.Add(i);
                    break;
                case Split.Validation when spec.Class is null || labels![i] != spec.Class:
                    validation.Add(i);
                    break;
            }
        }
        if (retain.Count == 0) throw new ArgumentException("Nothing would be left to retain.");
        return new ForgetPartition(forget.Order().ToArray(), retain.ToArray(), test.ToArray(), validation.ToArray(), spec.Kind, spec.Class);
    }
}
