using UnlearnService.Engine.Evaluation;

namespace UnlearnService.Engine.Tests.Evaluation;

public sealed class MiaSvmTests
{
    [Fact]
    public void Decision_ClassOneOnHighFeatures_PositiveMeansClassOne()
    {
        var svm = RbfSvm.Fit([0.9, 0.95, 1.0, 0.1, 0.2, 0.3], [true, true, true, false, false, false]);

        Assert.True(svm.Decision([0.95]) > 0);
        Assert.True(svm.Predict([0.95]));
        Assert.True(svm.Decision([0.2]) < 0);
        Assert.False(svm.Predict([0.2]));
    }

    // scikit-learn 1.2.1 on this problem: decision_function([[0.5]]) = -0.0, predict = 1 (libsvm gives its
    // second class, here class 1, when its own decision value is not positive).
    [Fact]
    public void Predict_DecisionExactlyZero_IsClassOne()
    {
        var svm = RbfSvm.Fit([1.0, 0.0], [true, false]);

        Assert.Equal(0.0, svm.Decision([0.5]));
        Assert.True(svm.Predict([0.5]));
        var batch = new bool[3];
        svm.Predict([0.7, 0.5, 0.3], batch);
        Assert.Equal([true, true, false], batch);
    }

    [Fact]
    public void Fit_DuplicatedTrainingPoints_MergedDecisionsMatchUnmerged()
    {
        var rng = new Random(3);
        var members = MiaSyntheticFeatures.TrainProbabilities(rng, 600);
        var nonMembers = MiaSyntheticFeatures.TestProbabilities(rng, 600);
        double[] x = [.. members.Select(v => (double)v), .. nonMembers.Select(v => (double)v)];
        bool[] y = [.. Enumerable.Repeat(true, 600), .. Enumerable.Repeat(false, 600)];
        var grid = Enumerable.Range(0, 201).Select(i => i / 200.0).ToArray();

        var merged = RbfSvm.Fit(x, y);
        var plain = RbfSvm.Fit(x, y, options: new RbfSvmOptions { MergeDuplicates = false });
        var a = new double[grid.Length];
        var b = new double[grid.Length];
        merged.Decision(grid, a);
        plain.Decision(grid, b);

        Assert.True(merged.TrainingPoints < plain.TrainingPoints, "the data has duplicates at 1.0");
        for (var i = 0; i < grid.Length; i++)
        {
            // Both are ε-optimal (ε = 1e-3) solutions of the same problem.
            Assert.True(Math.Abs(a[i] - b[i]) < 1e-2, $"x = {grid[i]}: {a[i]} vs {b[i]}");
        }
    }

    [Fact]
    public void Decision_BatchWithRepeatedValues_EqualsOneByOne()
    {
        var svm = RbfSvm.Fit([0.9, 0.95, 1.0, 1.0, 0.1, 0.2, 0.3, 1.0], [true, true, true, true, false, false, false, false]);
        double[] samples = [1.0, 0.2, 1.0, -0.0, 0.0, 0.95, 0.2];

        var batch = new double[samples.Length];
        svm.Decision(samples, batch);

        for (var i = 0; i < samples.Length; i++)
        {
            Assert.Equal(svm.Decision([samples[i]]), batch[i]);
        }
    }

    [Fact]
    public void Fit_TwoDimensionalFeatures_SeparatesByBothFeatures()
    {
        // Class 1 where both features are high; either one alone does not decide.
        double[] x = [0.9, 0.9, 0.8, 0.95, 0.9, 0.1, 0.1, 0.9, 0.2, 0.1, 0.1, 0.2];
        bool[] y = [true, true, false, false, false, false];

        var svm = RbfSvm.Fit(x, y, dimension: 2);

        Assert.Equal(0.5, svm.Gamma);
        Assert.True(svm.Predict([0.85, 0.92]));
        Assert.False(svm.Predict([0.9, 0.1]));
        Assert.False(svm.Predict([0.1, 0.9]));
    }

    [Fact]
    public void Fit_OnlyOneClass_Throws()
    {
        Assert.Throws<ArgumentException>(() => RbfSvm.Fit([0.1, 0.2], [true, true]));
    }

    [Fact]
    public void Fit_NonFiniteFeature_Throws()
    {
        Assert.Throws<ArgumentException>(() => RbfSvm.Fit([0.1, double.NaN], [true, false]));
    }

    [Fact]
    public void Fit_FeatureCountNotMatchingLabels_Throws()
    {
        Assert.Throws<ArgumentException>(() => RbfSvm.Fit([0.1, 0.2, 0.3], [true, false], dimension: 2));
    }

    [Fact]
    public void Fit_TinyCache_GivesSameModelAsLargeCache()
    {
        var rng = new Random(11);
        var members = MiaSyntheticFeatures.TrainProbabilities(rng, 400);
        var nonMembers = MiaSyntheticFeatures.TestProbabilities(rng, 400);
        double[] x = [.. members.Select(v => (double)v), .. nonMembers.Select(v => (double)v)];
        bool[] y = [.. Enumerable.Repeat(true, 400), .. Enumerable.Repeat(false, 400)];

        // Two rows of cache force evictions and dropped rows during shrinking; the iterates must not change.
        var small = RbfSvm.Fit(x, y, options: new RbfSvmOptions { CacheBytes = 1 });
        var large = RbfSvm.Fit(x, y);

        Assert.Equal(large.Iterations, small.Iterations);
        Assert.Equal(large.Intercept, small.Intercept);
        Assert.Equal(large.Decision([0.99]), small.Decision([0.99]));
    }
}
