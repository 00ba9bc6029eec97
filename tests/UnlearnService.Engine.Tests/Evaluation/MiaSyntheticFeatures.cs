namespace UnlearnService.Engine.Tests.Evaluation;

/// <summary>
/// Seeded synthetic MIA features shaped like real ones (as in Fixtures/make_mia_svm_fixture.py): a model's
/// probability of the true label on its training data is mostly within 1e-2 of 1 and about a quarter exactly
/// 1.0 in float32; on unseen data it is broader with a tail of misclassified samples.
/// </summary>
internal static class MiaSyntheticFeatures
{
    public static float[] TrainProbabilities(Random rng, int n)
    {
        var x = new float[n];
        for (var i = 0; i < n; i++)
        {
            var u = rng.NextDouble();
            x[i] = (float)(u < 0.88 ? 1.0 - Math.Pow(10, Uniform(rng, -9.5, -2.0))
                : u < 0.98 ? Math.Pow(rng.NextDouble(), 1.0 / 6)
                : 1.0 - Math.Sqrt(rng.NextDouble()));
        }

        return x;
    }

    public static float[] TestProbabilities(Random rng, int n)
    {
        var x = new float[n];
        for (var i = 0; i < n; i++)
        {
            var u = rng.NextDouble();
            x[i] = (float)(u < 0.60 ? 1.0 - Math.Pow(10, Uniform(rng, -7.5, -1.0))
                : u < 0.85 ? Math.Pow(rng.NextDouble(), 1.0 / 4)
                : 1.0 - Math.Pow(rng.NextDouble(), 1.0 / 2.5));
        }

        return x;
    }

    /// <summary>A shuffled mix: <paramref name="trainFraction"/> from the training distribution.</summary>
    public static float[] Mixed(Random rng, int n, double trainFraction)
    {
        var k = (int)Math.Round(n * trainFraction);
        float[] all = [.. TrainProbabilities(rng, k), .. TestProbabilities(rng, n - k)];
        rng.Shuffle(all);
        return all;
    }

    private static double Uniform(Random rng, double low, double high) => low + ((high - low) * rng.NextDouble());
}
