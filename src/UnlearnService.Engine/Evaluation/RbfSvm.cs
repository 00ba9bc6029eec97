using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace UnlearnService.Engine.Evaluation;

/// <summary>Settings of <see cref="RbfSvm.Fit"/>; the defaults are scikit-learn's SVC(C=3, gamma='auto').</summary>
internal sealed record RbfSvmOptions
{
    /// <summary>The box constraint C.</summary>
    public double C { get; init; } = 3.0;

    /// <summary>The RBF width γ; null means scikit-learn's gamma='auto', 1 / (number of features).</summary>
    public double? Gamma { get; init; }

    /// <summary>Stopping tolerance on the maximal KKT violation (libsvm and scikit-learn: 1e-3).</summary>
    public double Epsilon { get; init; } = 1e-3;

    /// <summary>libsvm's shrinking heuristic (scikit-learn default: on).</summary>
    public bool Shrinking { get; init; } = true;

    /// <summary>
    /// Merge training points with the same features and label into one point with bound k·C. This is an exact
    /// reduction of the dual (the k copies have identical rows of Q, so only their sum matters) and the
    /// decision function is unchanged; it makes saturated features (many probabilities exactly 1.0) cheap.
    /// The solver then takes a different path to an equally ε-optimal point, so decision values differ from
    /// libsvm's by about ε. Turn off to follow libsvm's iterates (and its support-vector counts) exactly.
    /// </summary>
    public bool MergeDuplicates { get; init; } = true;

    /// <summary>
    /// Memory for cached kernel rows, in bytes (scikit-learn: 200 MB). Only speed depends on it; rows are used
    /// close together in time, so 64 MB was as fast as 512 MB on 20,000 one-dimensional points.
    /// </summary>
    public long CacheBytes { get; init; } = 64L << 20;

    /// <summary>Safety stop on SMO iterations; null means max(10⁷, 100·n), libsvm's own limit.</summary>
    public long? MaxIterations { get; init; }
}

/// <summary>
/// Binary C-SVC with the RBF kernel K(x, z) = exp(−γ‖x − z‖²), trained like libsvm and reporting like
/// scikit-learn's SVC: classes are "0" (false) and "1" (true), <see cref="Decision(ReadOnlySpan{double})"/> &gt; 0
/// means class 1, and a decision of exactly 0 is class 1 too (libsvm predicts its second class when its own
/// decision value, the negation of scikit-learn's, is not positive).
/// </summary>
/// <remarks>
/// Internally libsvm puts the classes in sorted order and gives the first (class 0) the label +1, with the
/// class-0 points first, each class in input order; this class does the same, because the order decides
/// libsvm's tie-breaks and therefore its iterates.
/// </remarks>
internal sealed class RbfSvm
{
    private readonly double[] _supportVectors;
    // libsvm's sign: α_i·y_i with y = +1 for class 0; decision_libsvm = Σ coef·K − ρ.
    private readonly double[] _coefficients;
    private readonly double _rho;
    private readonly double _negativeGamma;

    private RbfSvm(int dimension, double gamma, double[] supportVectors, double[] coefficients, double rho,
        int[] supportCounts, long iterations, bool converged, int trainingPoints)
    {
        Dimension = dimension;
        Gamma = gamma;
        _negativeGamma = -gamma;
        _supportVectors = supportVectors;
        _coefficients = coefficients;
        _rho = rho;
        SupportVectorCounts = supportCounts;
        Iterations = iterations;
        Converged = converged;
        TrainingPoints = trainingPoints;
    }

    /// <summary>Number of features per sample.</summary>
    public int Dimension { get; }

    /// <summary>The γ used.</summary>
    public double Gamma { get; }

    /// <summary>
    /// Support vectors of class 0 and class 1 (scikit-learn's n_support_). With merged duplicates a merged
    /// point counts once, so this is at most scikit-learn's count.
    /// </summary>
    public IReadOnlyList<int> SupportVectorCounts { get; }

    /// <summary>scikit-learn's intercept_ (libsvm's ρ; the sign flip of the binary case included).</summary>
    public double Intercept => _rho;

    /// <summary>SMO iterations (scikit-learn's n_iter_ when duplicates are not merged).</summary>
    public long Iterations { get; }

    /// <summary>False when the iteration limit stopped the solver before the tolerance was met.</summary>
    public bool Converged { get; }

    /// <summary>Points in the dual problem after merging duplicates.</summary>
    public int TrainingPoints { get; }

    /// <summary>
    /// Trains on <paramref name="features"/> (row-major, <paramref name="dimension"/> values per sample) with
    /// labels <paramref name="isClassOne"/> (true = class 1). Both classes must occur; features must be finite.
    /// </summary>
    public static RbfSvm Fit(ReadOnlySpan<double> features, ReadOnlySpan<bool> isClassOne, int dimension = 1, RbfSvmOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new RbfSvmOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (features.Length != isClassOne.Length * dimension)
        {
            throw new ArgumentException($"{features.Length} feature values for {isClassOne.Length} labels of dimension {dimension}.", nameof(features));
        }

        if (!(options.C > 0) || double.IsInfinity(options.C))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "C must be positive and finite.");
        }

        var gamma = options.Gamma ?? 1.0 / dimension;
        if (!(gamma > 0) || double.IsInfinity(gamma))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Gamma must be positive and finite.");
        }

        if (!(options.Epsilon > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Epsilon must be positive.");
        }

        foreach (var v in features)
        {
            if (!double.IsFinite(v))
            {
                throw new ArgumentException("Features must be finite.", nameof(features));
            }
        }

        var problem = DualProblem.Build(features, isClassOne, dimension, options.C, options.MergeDuplicates);
        if (problem.ClassZeroCount == 0 || problem.ClassOneCount == 0)
        {
            throw new ArgumentException("Both classes must occur in the training data.", nameof(isClassOne));
        }

        var count = problem.Labels.Length;
        var matrix = new SvcKernelMatrix(problem.X, dimension, problem.Labels, gamma, options.CacheBytes);
        var maxIterations = options.MaxIterations ?? Math.Max(10_000_000L, 100L * count);
        var solution = SmoSolver.Solve(matrix, problem.Labels, problem.UpperBounds, options.Epsilon, options.Shrinking, maxIterations, cancellationToken);

        // Keep libsvm's support-vector order (class 0 first, input order): it fixes the summation order.
        var supportCount = 0;
        var counts = new int[2];
        for (var i = 0; i < count; i++)
        {
            if (Math.Abs(solution.Coefficients[i]) > 0)
            {
                supportCount++;
                counts[problem.Labels[i] == 1 ? 0 : 1]++;
            }
        }

        var vectors = new double[supportCount * dimension];
        var coefficients = new double[supportCount];
        var at = 0;
        for (var i = 0; i < count; i++)
        {
            if (Math.Abs(solution.Coefficients[i]) > 0)
            {
                problem.X.AsSpan(i * dimension, dimension).CopyTo(vectors.AsSpan(at * dimension, dimension));
                coefficients[at++] = solution.Coefficients[i];
            }
        }

        return new RbfSvm(dimension, gamma, vectors, coefficients, solution.Rho, counts, solution.Iterations, solution.Converged, count);
    }

    /// <summary>scikit-learn's decision_function for one sample: positive means class 1.</summary>
    public double Decision(ReadOnlySpan<double> sample)
    {
        if (sample.Length != Dimension)
        {
            throw new ArgumentException($"Expected {Dimension} features.", nameof(sample));
        }

        var kernel = new double[_coefficients.Length];
        return -LibsvmDecision(sample, kernel);
    }

    /// <summary>scikit-learn's predict for one sample: true for class 1.</summary>
    public bool Predict(ReadOnlySpan<double> sample)
    {
        if (sample.Length != Dimension)
        {
            throw new ArgumentException($"Expected {Dimension} features.", nameof(sample));
        }

        return LibsvmDecision(sample, new double[_coefficients.Length]) <= 0;
    }

    /// <summary>Decision values (scikit-learn's sign) for many samples, row-major.</summary>
    public void Decision(ReadOnlySpan<double> samples, Span<double> decisions)
    {
        var values = LibsvmDecisions(samples, decisions.Length);
        for (var i = 0; i < values.Length; i++)
        {
            decisions[i] = -values[i];
        }
    }

    /// <summary>Predicted classes (true = class 1) for many samples, row-major.</summary>
    public void Predict(ReadOnlySpan<double> samples, Span<bool> isClassOne)
    {
        var values = LibsvmDecisions(samples, isClassOne.Length);
        for (var i = 0; i < values.Length; i++)
        {
            isClassOne[i] = values[i] <= 0;
        }
    }

    // Samples are independent, so they are spread over cores; in one dimension equal values are computed once
    // (saturated probabilities make many of them). Each value is computed exactly as for a single sample.
    private double[] LibsvmDecisions(ReadOnlySpan<double> samples, int count)
    {
        if (samples.Length != count * Dimension)
        {
            throw new ArgumentException($"{samples.Length} feature values for {count} outputs of dimension {Dimension}.", nameof(samples));
        }

        var result = new double[count];
        if (count == 0)
        {
            return result;
        }

        double[] points;
        int[]? map = null;
        if (Dimension == 1)
        {
            points = Distinct(samples, out map);
        }
        else
        {
            points = samples.ToArray();
        }

        var pointCount = points.Length / Dimension;
        var values = new double[pointCount];
        var chunk = Math.Max(16, pointCount / (4 * Environment.ProcessorCount));
        var chunks = (pointCount + chunk - 1) / chunk;
        Parallel.For(0, chunks, () => new double[_coefficients.Length], (c, _, kernel) =>
        {
            var end = Math.Min(pointCount, (c + 1) * chunk);
            for (var i = c * chunk; i < end; i++)
            {
                values[i] = LibsvmDecision(points.AsSpan(i * Dimension, Dimension), kernel);
            }

            return kernel;
        }, _ => { });

        if (map is null)
        {
            return values;
        }

        for (var i = 0; i < count; i++)
        {
            result[i] = values[map[i]];
        }

        return result;
    }

    private static double[] Distinct(ReadOnlySpan<double> samples, out int[] map)
    {
        var order = new int[samples.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        var keys = samples.ToArray();
        Array.Sort(keys, order);
        map = new int[samples.Length];
        var distinct = new List<double>();
        for (var k = 0; k < keys.Length; k++)
        {
            // 0.0 and −0.0 give the same kernel values; they may share.
            if (k == 0 || keys[k] != keys[k - 1])
            {
                distinct.Add(keys[k]);
            }

            map[order[k]] = distinct.Count - 1;
        }

        return [.. distinct];
    }

    // libsvm's svm_predict_values for two classes: the kernel as k_function computes it (exp(−γ·Σ(x−z)²)),
    // summed over support vectors in order, minus ρ.
    private double LibsvmDecision(ReadOnlySpan<double> sample, double[] kernel)
    {
        var count = _coefficients.Length;
        if (Dimension == 1)
        {
            KernelsOneDimensional(sample[0], kernel);
        }
        else
        {
            for (var i = 0; i < count; i++)
            {
                var sv = _supportVectors.AsSpan(i * Dimension, Dimension);
                var sum = 0.0;
                for (var k = 0; k < Dimension; k++)
                {
                    var d = sample[k] - sv[k];
                    sum += d * d;
                }

                kernel[i] = Math.Exp(_negativeGamma * sum);
            }
        }

        var total = 0.0;
        for (var i = 0; i < count; i++)
        {
            total += _coefficients[i] * kernel[i];
        }

        return total - _rho;
    }

    private void KernelsOneDimensional(double x, double[] kernel)
    {
        var count = _coefficients.Length;
        ref var sv = ref MemoryMarshal.GetArrayDataReference(_supportVectors);
        ref var output = ref MemoryMarshal.GetArrayDataReference(kernel);
        var vx = Vector256.Create(x);
        var vNegativeGamma = Vector256.Create(_negativeGamma);
        var i = 0;
        for (; i + 4 <= count; i += 4)
        {
            var d = vx - Vector256.LoadUnsafe(ref sv, (nuint)i);
            Vector256.Exp(vNegativeGamma * (d * d)).StoreUnsafe(ref output, (nuint)i);
        }

        for (; i < count; i++)
        {
            var d = x - _supportVectors[i];
            kernel[i] = Math.Exp(_negativeGamma * (d * d));
        }
    }

    /// <summary>The dual problem in libsvm's order: class 0 (label +1) first, then class 1 (label −1).</summary>
    private sealed class DualProblem
    {
        public required double[] X { get; init; }

        public required sbyte[] Labels { get; init; }

        public required double[] UpperBounds { get; init; }

        public int ClassZeroCount { get; init; }

        public int ClassOneCount { get; init; }

        public static DualProblem Build(ReadOnlySpan<double> features, ReadOnlySpan<bool> isClassOne, int dimension, double c, bool merge)
        {
            var x = new List<double>(features.Length);
            var labels = new List<sbyte>(isClassOne.Length);
            var bounds = new List<double>(isClassOne.Length);
            var counts = new int[2];
            foreach (var classOne in new[] { false, true })
            {
                var seen = merge ? new Dictionary<FeatureKey, int>() : null;
                for (var i = 0; i < isClassOne.Length; i++)
                {
                    if (isClassOne[i] != classOne)
                    {
                        continue;
                    }

                    counts[classOne ? 1 : 0]++;
                    var row = features.Slice(i * dimension, dimension);
                    if (seen is not null)
                    {
                        var key = new FeatureKey(row.ToArray());
                        if (seen.TryGetValue(key, out var at))
                        {
                            bounds[at] += c;
                            continue;
                        }

                        seen.Add(key, labels.Count);
                    }

                    foreach (var v in row)
                    {
                        x.Add(v);
                    }

                    labels.Add(classOne ? (sbyte)-1 : (sbyte)1);
                    bounds.Add(c);
                }
            }

            return new DualProblem
            {
                X = [.. x],
                Labels = [.. labels],
                UpperBounds = [.. bounds],
                ClassZeroCount = counts[0],
                ClassOneCount = counts[1],
            };
        }
    }

    // Value equality of a feature row (0.0 equals −0.0: their kernel rows are the same).
    private readonly struct FeatureKey(double[] values) : IEquatable<FeatureKey>
    {
        private readonly double[] _values = values;

        public bool Equals(FeatureKey other)
        {
            for (var k = 0; k < _values.Length; k++)
            {
                if (_values[k] != other._values[k])
                {
                    return false;
                }
            }

            return true;
        }

        public override bool Equals(object? obj) => obj is FeatureKey other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (var v in _values)
            {
                hash.Add(v == 0 ? 0.0 : v);
            }

            return hash.ToHashCode();
        }
    }
}
