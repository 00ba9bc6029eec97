using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace UnlearnService.Engine.Evaluation;

/// <summary>
/// SMO for the C-SVC dual, the way libsvm solves it (Fan, Chen and Lin, JMLR 6, 2005):
/// min ½αᵀQα − eᵀα subject to yᵀα = 0 and 0 ≤ α_i ≤ C_i, second-order working-set selection (WSS3),
/// stopping when the maximal KKT violation m(α) − M(α) is below ε, libsvm's shrinking heuristic and
/// libsvm's bias (the mean of y_i·∇f_i over free variables, else the midpoint of the feasible interval).
/// The order of every scan and every tie-break is libsvm's, so on the same problem the iterates are the
/// same up to the last bit of a kernel value.
/// </summary>
internal sealed class SmoSolver
{
    private const double Tau = 1e-12;
    private const byte LowerBound = 0;
    private const byte UpperBound = 1;
    private const byte Free = 2;

    private readonly int _count;
    private readonly SvcKernelMatrix _q;
    private readonly double[] _diagonal;
    private readonly double _eps;
    private readonly bool _shrinking;
    private readonly sbyte[] _y;
    private readonly double[] _c;
    private readonly double[] _p;
    private readonly double[] _alpha;
    private readonly byte[] _status;
    private readonly int[] _activeSet;
    private readonly double[] _gradient;
    // The gradient's part from variables at their upper bound, kept so that shrunk gradients can be rebuilt.
    private readonly double[] _gradientBar;
    private int _activeSize;
    private bool _unshrink;

    private SmoSolver(SvcKernelMatrix q, ReadOnlySpan<sbyte> y, ReadOnlySpan<double> upperBounds, double eps, bool shrinking)
    {
        _count = y.Length;
        _q = q;
        _diagonal = q.Diagonal;
        _eps = eps;
        _shrinking = shrinking;
        _y = y.ToArray();
        _c = upperBounds.ToArray();
        _p = new double[_count];
        Array.Fill(_p, -1.0);
        _alpha = new double[_count];
        _status = new byte[_count];
        _activeSet = new int[_count];
        _gradient = new double[_count];
        _gradientBar = new double[_count];
        for (var i = 0; i < _count; i++)
        {
            _activeSet[i] = i;
            UpdateStatus(i);
        }

        // α starts at 0, so ∇f = p and nothing is at an upper bound.
        Array.Copy(_p, _gradient, _count);
        _activeSize = _count;
    }

    /// <summary>
    /// Solves the C-SVC dual. Returns α_i·y_i in the given order, ρ (decision = Σ α_i y_i K(x_i, x) − ρ),
    /// the iteration count and whether it stopped by ε rather than by <paramref name="maxIterations"/>. Cancellable
    /// every 1,000 iterations at most (where libsvm considers shrinking).
    /// </summary>
    public static SmoSolution Solve(
        SvcKernelMatrix q, ReadOnlySpan<sbyte> y, ReadOnlySpan<double> upperBounds, double eps, bool shrinking, long maxIterations,
        CancellationToken cancellationToken = default)
    {
        var solver = new SmoSolver(q, y, upperBounds, eps, shrinking);
        return solver.Run(maxIterations, cancellationToken);
    }

    private SmoSolution Run(long maxIterations, CancellationToken cancellationToken)
    {
        long iterations = 0;
        var converged = true;
        var counter = Math.Min(_count, 1000) + 1;
        while (true)
        {
            if (iterations >= maxIterations)
            {
                converged = false;
                ReconstructGradient();
                _activeSize = _count;
                break;
            }

            if (--counter == 0)
            {
                counter = Math.Min(_count, 1000);
                cancellationToken.ThrowIfCancellationRequested();
                if (_shrinking)
                {
                    Shrink();
                }
            }

            if (!SelectWorkingSet(out var i, out var j))
            {
                // Optimal on the active set; check again on everything before stopping.
                ReconstructGradient();
                _activeSize = _count;
                if (!SelectWorkingSet(out i, out j))
                {
                    break;
                }

                counter = 1;
            }

            iterations++;
            Step(i, j);
        }

        var rho = CalculateRho();
        var coefficients = new double[_count];
        for (var k = 0; k < _count; k++)
        {
            coefficients[_activeSet[k]] = _alpha[k] * _y[k];
        }

        return new SmoSolution(coefficients, rho, iterations, converged);
    }

    private void Step(int i, int j)
    {
        var qi = _q.GetRow(i, _activeSize);
        var qj = _q.GetRow(j, _activeSize);
        var ci = _c[i];
        var cj = _c[j];
        var oldAlphaI = _alpha[i];
        var oldAlphaJ = _alpha[j];
        ref var ai = ref _alpha[i];
        ref var aj = ref _alpha[j];

        // The two-variable sub-problem, clipped to the box along the line yᵀα = const.
        if (_y[i] != _y[j])
        {
            var quad = _diagonal[i] + _diagonal[j] + 2 * qi[j];
            if (quad <= 0)
            {
                quad = Tau;
            }

            var delta = (-_gradient[i] - _gradient[j]) / quad;
            var diff = ai - aj;
            ai += delta;
            aj += delta;
            if (diff > 0)
            {
                if (aj < 0)
                {
                    aj = 0;
                    ai = diff;
                }
            }
            else if (ai < 0)
            {
                ai = 0;
                aj = -diff;
            }

            if (diff > ci - cj)
            {
                if (ai > ci)
                {
                    ai = ci;
                    aj = ci - diff;
                }
            }
            else if (aj > cj)
            {
                aj = cj;
                ai = cj + diff;
            }
        }
        else
        {
            var quad = _diagonal[i] + _diagonal[j] - 2 * qi[j];
            if (quad <= 0)
            {
                quad = Tau;
            }

            var delta = (_gradient[i] - _gradient[j]) / quad;
            var sum = ai + aj;
            ai -= delta;
            aj += delta;
            if (sum > ci)
            {
                if (ai > ci)
                {
                    ai = ci;
                    aj = sum - ci;
                }
            }
            else if (aj < 0)
            {
                aj = 0;
                ai = sum;
            }

            if (sum > cj)
            {
                if (aj > cj)
                {
                    aj = cj;
                    ai = sum - cj;
                }
            }
            else if (ai < 0)
            {
                ai = 0;
                aj = sum;
            }
        }

        var deltaI = ai - oldAlphaI;
        var deltaJ = aj - oldAlphaJ;
        AddTwoRows(_gradient, qi, deltaI, qj, deltaJ, _activeSize);

        var wasUpperI = _status[i] == UpperBound;
        var wasUpperJ = _status[j] == UpperBound;
        UpdateStatus(i);
        UpdateStatus(j);
        if (wasUpperI != (_status[i] == UpperBound))
        {
            AddRow(_gradientBar, _q.GetRow(i, _count), wasUpperI ? -ci : ci, _count);
        }

        if (wasUpperJ != (_status[j] == UpperBound))
        {
            AddRow(_gradientBar, _q.GetRow(j, _count), wasUpperJ ? -cj : cj, _count);
        }
    }

    // Returns false when the active set is optimal to within ε.
    private bool SelectWorkingSet(out int outI, out int outJ)
    {
        var gMax = double.NegativeInfinity;
        var gMax2 = double.NegativeInfinity;
        var gMaxIndex = -1;
        var gMinIndex = -1;
        var objDiffMin = double.PositiveInfinity;
        var y = _y;
        var g = _gradient;
        var status = _status;
        var n = _activeSize;

        // i maximises −y_i∇f_i over I_up; ">=" so that the last of equals wins, as in libsvm.
        for (var t = 0; t < n; t++)
        {
            if (y[t] == 1)
            {
                if (status[t] != UpperBound && -g[t] >= gMax)
                {
                    gMax = -g[t];
                    gMaxIndex = t;
                }
            }
            else if (status[t] != LowerBound && g[t] >= gMax)
            {
                gMax = g[t];
                gMaxIndex = t;
            }
        }

        outI = gMaxIndex;
        outJ = -1;
        if (gMaxIndex < 0)
        {
            // Nothing can move up: optimal (gMax = −∞ makes the test below fail too).
            return false;
        }

        var qi = _q.GetRow(gMaxIndex, n);
        var diagonalI = _diagonal[gMaxIndex];
        double yi = y[gMaxIndex];
        var diagonal = _diagonal;

        // j minimises the second-order estimate of the objective decrease over I_low.
        for (var j = 0; j < n; j++)
        {
            if (y[j] == 1)
            {
                if (status[j] != LowerBound)
                {
                    var gradDiff = gMax + g[j];
                    if (g[j] >= gMax2)
                    {
                        gMax2 = g[j];
                    }

                    if (gradDiff > 0)
                    {
                        var quad = diagonalI + diagonal[j] - 2.0 * yi * qi[j];
                        var objDiff = quad > 0 ? -(gradDiff * gradDiff) / quad : -(gradDiff * gradDiff) / Tau;
                        if (objDiff <= objDiffMin)
                        {
                            gMinIndex = j;
                            objDiffMin = objDiff;
                        }
                    }
                }
            }
            else if (status[j] != UpperBound)
            {
                var gradDiff = gMax - g[j];
                if (-g[j] >= gMax2)
                {
                    gMax2 = -g[j];
                }

                if (gradDiff > 0)
                {
                    var quad = diagonalI + diagonal[j] + 2.0 * yi * qi[j];
                    var objDiff = quad > 0 ? -(gradDiff * gradDiff) / quad : -(gradDiff * gradDiff) / Tau;
                    if (objDiff <= objDiffMin)
                    {
                        gMinIndex = j;
                        objDiffMin = objDiff;
                    }
                }
            }
        }

        if (gMax + gMax2 < _eps || gMinIndex == -1)
        {
            return false;
        }

        outJ = gMinIndex;
        return true;
    }

    private bool BeShrunk(int i, double gMax1, double gMax2)
    {
        if (_status[i] == UpperBound)
        {
            return _y[i] == 1 ? -_gradient[i] > gMax1 : -_gradient[i] > gMax2;
        }

        if (_status[i] == LowerBound)
        {
            return _y[i] == 1 ? _gradient[i] > gMax2 : _gradient[i] > gMax1;
        }

        return false;
    }

    // Moves bounded variables that are unlikely to change to the end, out of the active set.
    private void Shrink()
    {
        var gMax1 = double.NegativeInfinity; // max −y_i∇f_i over I_up
        var gMax2 = double.NegativeInfinity; // max y_i∇f_i over I_low
        for (var i = 0; i < _activeSize; i++)
        {
            var g = _gradient[i];
            if (_y[i] == 1)
            {
                if (_status[i] != UpperBound && -g >= gMax1)
                {
                    gMax1 = -g;
                }

                if (_status[i] != LowerBound && g >= gMax2)
                {
                    gMax2 = g;
                }
            }
            else
            {
                if (_status[i] != UpperBound && -g >= gMax2)
                {
                    gMax2 = -g;
                }

                if (_status[i] != LowerBound && g >= gMax1)
                {
                    gMax1 = g;
                }
            }
        }

        // Close to optimal: un-shrink once so that the final iterations see every variable.
        if (!_unshrink && gMax1 + gMax2 <= _eps * 10)
        {
            _unshrink = true;
            ReconstructGradient();
            _activeSize = _count;
        }

        for (var i = 0; i < _activeSize; i++)
        {
            if (!BeShrunk(i, gMax1, gMax2))
            {
                continue;
            }

            _activeSize--;
            while (_activeSize > i)
            {
                if (!BeShrunk(_activeSize, gMax1, gMax2))
                {
                    SwapIndex(i, _activeSize);
                    break;
                }

                _activeSize--;
            }
        }
    }

    private void SwapIndex(int i, int j)
    {
        _q.Swap(i, j);
        (_y[i], _y[j]) = (_y[j], _y[i]);
        (_gradient[i], _gradient[j]) = (_gradient[j], _gradient[i]);
        (_status[i], _status[j]) = (_status[j], _status[i]);
        (_alpha[i], _alpha[j]) = (_alpha[j], _alpha[i]);
        (_p[i], _p[j]) = (_p[j], _p[i]);
        (_activeSet[i], _activeSet[j]) = (_activeSet[j], _activeSet[i]);
        (_gradientBar[i], _gradientBar[j]) = (_gradientBar[j], _gradientBar[i]);
        (_c[i], _c[j]) = (_c[j], _c[i]);
    }

    // Rebuilds the gradient of shrunk variables: G_bar holds the upper-bound part, free variables are added.
    private void ReconstructGradient()
    {
        if (_activeSize == _count)
        {
            return;
        }

        for (var j = _activeSize; j < _count; j++)
        {
            _gradient[j] = _gradientBar[j] + _p[j];
        }

        var freeCount = 0;
        for (var j = 0; j < _activeSize; j++)
        {
            if (_status[j] == Free)
            {
                freeCount++;
            }
        }

        // Whichever way touches fewer kernel entries (libsvm's choice, kept for its summation order).
        if ((long)freeCount * _count > 2L * _activeSize * (_count - _activeSize))
        {
            for (var i = _activeSize; i < _count; i++)
            {
                var qi = _q.GetRow(i, _activeSize);
                for (var j = 0; j < _activeSize; j++)
                {
                    if (_status[j] == Free)
                    {
                        _gradient[i] += _alpha[j] * qi[j];
                    }
                }
            }
        }
        else
        {
            for (var i = 0; i < _activeSize; i++)
            {
                if (_status[i] != Free)
                {
                    continue;
                }

                var qi = _q.GetRow(i, _count);
                var alphaI = _alpha[i];
                for (var j = _activeSize; j < _count; j++)
                {
                    _gradient[j] += alphaI * qi[j];
                }
            }
        }
    }

    private double CalculateRho()
    {
        var freeCount = 0;
        var upper = double.PositiveInfinity;
        var lower = double.NegativeInfinity;
        var freeSum = 0.0;
        for (var i = 0; i < _activeSize; i++)
        {
            var yg = _y[i] * _gradient[i];
            if (_status[i] == UpperBound)
            {
                if (_y[i] == -1)
                {
                    upper = Math.Min(upper, yg);
                }
                else
                {
                    lower = Math.Max(lower, yg);
                }
            }
            else if (_status[i] == LowerBound)
            {
                if (_y[i] == 1)
                {
                    upper = Math.Min(upper, yg);
                }
                else
                {
                    lower = Math.Max(lower, yg);
                }
            }
            else
            {
                freeCount++;
                freeSum += yg;
            }
        }

        return freeCount > 0 ? freeSum / freeCount : (upper + lower) / 2;
    }

    private void UpdateStatus(int i)
    {
        _status[i] = _alpha[i] >= _c[i] ? UpperBound : _alpha[i] <= 0 ? LowerBound : Free;
    }

    // target[k] += a[k]·da + b[k]·db. Widening float to double and the same two products and sums per lane:
    // the result is bit-for-bit the scalar loop's (no fused multiply-add is formed).
    private static void AddTwoRows(double[] target, float[] a, double da, float[] b, double db, int length)
    {
        ref var t = ref MemoryMarshal.GetArrayDataReference(target);
        ref var ra = ref MemoryMarshal.GetArrayDataReference(a);
        ref var rb = ref MemoryMarshal.GetArrayDataReference(b);
        var vda = Vector256.Create(da);
        var vdb = Vector256.Create(db);
        var k = 0;
        for (; k + 8 <= length; k += 8)
        {
            var fa = Vector256.LoadUnsafe(ref ra, (nuint)k);
            var fb = Vector256.LoadUnsafe(ref rb, (nuint)k);
            var t0 = Vector256.LoadUnsafe(ref t, (nuint)k);
            var t1 = Vector256.LoadUnsafe(ref t, (nuint)(k + 4));
            (t0 + ((Vector256.WidenLower(fa) * vda) + (Vector256.WidenLower(fb) * vdb))).StoreUnsafe(ref t, (nuint)k);
            (t1 + ((Vector256.WidenUpper(fa) * vda) + (Vector256.WidenUpper(fb) * vdb))).StoreUnsafe(ref t, (nuint)(k + 4));
        }

        for (; k < length; k++)
        {
            target[k] += (a[k] * da) + (b[k] * db);
        }
    }

    private static void AddRow(double[] target, float[] a, double factor, int length)
    {
        ref var t = ref MemoryMarshal.GetArrayDataReference(target);
        ref var ra = ref MemoryMarshal.GetArrayDataReference(a);
        var vf = Vector256.Create(factor);
        var k = 0;
        for (; k + 8 <= length; k += 8)
        {
            var fa = Vector256.LoadUnsafe(ref ra, (nuint)k);
            (Vector256.LoadUnsafe(ref t, (nuint)k) + (vf * Vector256.WidenLower(fa))).StoreUnsafe(ref t, (nuint)k);
            (Vector256.LoadUnsafe(ref t, (nuint)(k + 4)) + (vf * Vector256.WidenUpper(fa))).StoreUnsafe(ref t, (nuint)(k + 4));
        }

        for (; k < length; k++)
        {
            target[k] += factor * a[k];
        }
    }
}

/// <summary>The result of <see cref="SmoSolver.Solve"/>.</summary>
/// <param name="Coefficients">α_i·y_i for every training point, in the order given to the solver.</param>
/// <param name="Rho">The bias term: decision = Σ α_i y_i K(x_i, x) − ρ.</param>
/// <param name="Iterations">SMO iterations (pairs updated).</param>
/// <param name="Converged">False when the iteration limit stopped the solver before ε was reached.</param>
internal sealed record SmoSolution(double[] Coefficients, double Rho, long Iterations, bool Converged);
