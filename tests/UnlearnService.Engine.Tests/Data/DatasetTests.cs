using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Data;

public sealed class DatasetTests
{
    public DatasetTests() => TorchRuntime.Initialize();

    static Dataset Make(string prefix, long[] labels, Split split, IReadOnlyList<string>? classNames = null, int features = 2) =>
        new(torch.ones(labels.Length, features), torch.tensor(labels),
            labels.Select((_, i) => $"{prefix}-{i}").ToArray(), new string?[labels.Length],
            Enumerable.Repeat(split, labels.Length).ToArray(), TaskKind.Classification,
            classNames?.Count ?? (int)labels.Max() + 1, classNames);

    [Fact]
    public void Constructor_ClassNamesNotOnePerClass_Throws()
    {
        using var scope = torch.NewDisposeScope();
        var error = Assert.Throws<ArgumentException>(() => new Dataset(torch.ones(2, 1), torch.tensor(new long[] { 0, 1 }), ["a", "b"],
            [null, null], [Split.Train, Split.Train], TaskKind.Classification, 2, ["only"]));
        var regression = Assert.Throws<ArgumentException>(() => new Dataset(torch.ones(1, 1), torch.ones(1), ["a"], [null], [Split.Train],
            TaskKind.Regression, 0, ["x"]));

        Assert.Contains("one name per class", error.Message);
        Assert.Contains("classification", regression.Message);
    }

    [Theory]
    [InlineData(new long[] { 0, 2 }, 2, "must lie in [0, 2); they span 0..2")]
    [InlineData(new long[] { -1, 1 }, 2, "must lie in [0, 2); they span -1..1")]
    [InlineData(new long[] { 0, 0 }, 0, "at least one class, not 0")]
    public void Constructor_LabelsOutsideTheClasses_Throws(long[] labels, int classCount, string expected)
    {
        using var scope = torch.NewDisposeScope();
        var error = Assert.Throws<ArgumentException>(() => new Dataset(torch.ones(labels.Length, 1), torch.tensor(labels), ["a", "b"],
            [null, null], [Split.Train, Split.Train], TaskKind.Classification, classCount));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Constructor_RegressionWithClasses_Throws()
    {
        using var scope = torch.NewDisposeScope();
        var error = Assert.Throws<ArgumentException>(() => new Dataset(torch.ones(1, 1), torch.ones(1), ["a"], [null], [Split.Train],
            TaskKind.Regression, 3));

        Assert.Contains("has no classes (class count 3, not 0)", error.Message);
    }

    [Fact]
    public void Select_KeepsClassNames()
    {
        using var dataset = Make("a", [0, 1, 1], Split.Train, ["cat", "dog"]);

        using var selected = dataset.Select([2, 0]);

        Assert.Equal(["cat", "dog"], selected.ClassNames);
        Assert.Equal(["a-2", "a-0"], selected.SampleIds);
    }

    [Fact]
    public void Concat_TrainAndTest_KeepsOrderSplitsAndLargestClassCount()
    {
        using var train = Make("train", [0, 3], Split.Train);
        using var test = Make("test", [5], Split.Test);

        using var both = Dataset.Concat([train, test]);

        Assert.Equal(["train-0", "train-1", "test-0"], both.SampleIds);
        Assert.Equal([Split.Train, Split.Train, Split.Test], both.Splits);
        Assert.Equal(new long[] { 0, 3, 5 }, both.Targets.data<long>().ToArray());
        Assert.Equal(6, both.ClassCount);
        Assert.Equal(new long[] { 3, 2 }, both.Features.shape);
    }

    [Fact]
    public void Concat_MismatchedParts_Throws()
    {
        using var a = Make("a", [0], Split.Train);
        using var sameIds = Make("a", [1], Split.Test);
        using var wider = Make("w", [0], Split.Train, features: 3);
        using var named = Make("n", [0, 1], Split.Train, ["x", "y"]);

        Assert.Contains("'a-0'", Assert.Throws<ArgumentException>(() => Dataset.Concat([a, sameIds])).Message);
        Assert.Contains("shape", Assert.Throws<ArgumentException>(() => Dataset.Concat([a, wider])).Message);
        Assert.Contains("name their classes", Assert.Throws<ArgumentException>(() => Dataset.Concat([a, named])).Message);
        Assert.Throws<ArgumentException>(() => Dataset.Concat([]));
    }
}
