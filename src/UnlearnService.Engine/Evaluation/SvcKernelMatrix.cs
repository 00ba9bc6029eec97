using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace UnlearnService.Engine.Evaluation;

/// <summary>
/// The C-SVC matrix Q[i,j] = y_i·y_j·exp(−γ‖x_i − x_j‖²), computed a row at a time and cached.
/// Rows are stored as float, as libsvm stores them: agreeing with libsvm means taking the same rounding,
/// and it halves the memory. Rows follow the solver's current index order (see <see cref="Swap"/>).
/// </summary>
internal sealed class SvcKernelMatrix
{
    private readonly int _count;
    private readonly int _dimension;
    private readonly double _negativeGamma;
    private readonly double[] _x;
    private readonly double[] _xSquare;
    private readonly double[] _y;
    private readonly double[] _diagonal;
    private readonly RowCache _cache;

    /// <summary>Prepares the matrix; <paramref name="x"/> and <paramref name="y"/> are copied.</summary>
    public SvcKernelMatrix(ReadOnlySpan<double> x, int dimension, ReadOnlySpan<sbyte> y, double gamma, long cacheBytes)
    {
        _count = y.Length;
        _dimension = dimension;
        _negativeGamma = -gamma;
        _x = x.ToArray();
        _y = new double[_count];
        _xSquare = new double[_count];
        _diagonal = new double[_count];
        for (var i = 0; i < _count; i++)
        {
            _y[i] = y[i];
            _xSquare[i] = Dot(i, i);
        }

        for (var i = 0; i < _count; i++)
        {
            _diagonal[i] = KernelOf(i, i);
        }

        _cache = new RowCache(_count, cacheBytes);
    }

    /// <summary>Q[i,i] in double, as libsvm keeps it (exactly 1 for this kernel, computed anyway).</summary>
    public double[] Diagonal => _diagonal;

    /// <summary>Row <paramref name="i"/> of Q, valid on [0, <paramref name="length"/>).</summary>
    public float[] GetRow(int i, int length)
    {
        var row = _cache.Get(i, length, out var start);
        if (start < length)
        {
            Fill(i, row, start, length);
        }

        return row;
    }

    /// <summary>Swaps points i and j in every array and in every cached row (libsvm's swap_index).</summary>
    public void Swap(int i, int j)
    {
        if (i == j)
        {
            return;
        }

        _cache.Swap(i, j);
        if (_dimension == 1)
        {
            (_x[i], _x[j]) = (_x[j], _x[i]);
        }
        else
        {
            var a = _x.AsSpan(i * _dimension, _dimension);
            var b = _x.AsSpan(j * _dimension, _dimension);
            for (var k = 0; k < _dimension; k++)
            {
                (a[k], b[k]) = (b[k], a[k]);
            }
        }

        (_xSquare[i], _xSquare[j]) = (_xSquare[j], _xSquare[i]);
        (_y[i], _y[j]) = (_y[j], _y[i]);
        (_diagonal[i], _diagonal[j]) = (_diagonal[j], _diagonal[i]);
    }

    // libsvm's dense dot: a plain left-to-right sum, so the rounding is the same.
    private double Dot(int i, int j)
    {
        var a = _x.AsSpan(i * _dimension, _dimension);
        var b = _x.AsSpan(j * _dimension, _dimension);
        var sum = 0.0;
        for (var k = 0; k < a.Length; k++)
        {
            sum += a[k] * b[k];
        }

        return sum;
    }

    // The training kernel is libsvm's kernel_rbf: exp(−γ(‖x_i‖² + ‖x_j‖² − 2·x_i·x_j)), not ‖x_i − x_j‖²;
    // the two round differently and we want libsvm's rounding.
    private double KernelOf(int i, int j) => Math.Exp(_negativeGamma * (_xSquare[i] + _xSquare[j] - 2 * Dot(i, j)));

    private void Fill(int i, float[] row, int start, int end)
    {
        if (_dimension == 1)
        {
            FillOneDimensional(i, row, start, end);
            return;
        }

        var yi = _y[i];
        for (var j = start; j < end; j++)
        {
            row[j] = (float)(yi * _y[j] * KernelOf(i, j));
        }
    }

    // Vectorised: Vector256.Exp differs from Math.Exp by at most an ulp in double, which vanishes when the
    // value is rounded to float (checked on 4·10⁶ arguments), so the stored rows are libsvm's.
    private void FillOneDimensional(int i, float[] row, int start, int end)
    {
        var xi = _x[i];
        var xSquareI = _xSquare[i];
        var yi = _y[i];
        ref var x = ref MemoryMarshal.GetArrayDataReference(_x);
        ref var xSquare = ref MemoryMarshal.GetArrayDataReference(_xSquare);
        ref var y = ref MemoryMarshal.GetArrayDataReference(_y);
        ref var output = ref MemoryMarshal.GetArrayDataReference(row);
        var vxi = Vector256.Create(xi);
        var vxSquareI = Vector256.Create(xSquareI);
        var vyi = Vector256.Create(yi);
        var vNegativeGamma = Vector256.Create(_negativeGamma);
        var two = Vector256.Create(2.0);

        var j = start;
        for (; j + 8 <= end; j += 8)
        {
            var low = Entry(ref x, ref xSquare, ref y, (nuint)j);
            var high = Entry(ref x, ref xSquare, ref y, (nuint)(j + 4));
            Vector256.Narrow(low, high).StoreUnsafe(ref output, (nuint)j);
        }

        for (; j < end; j++)
        {
            var k = Math.Exp(_negativeGamma * (xSquareI + _xSquare[j] - 2 * (xi * _x[j])));
            row[j] = (float)(yi * _y[j] * k);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        Vector256<double> Entry(ref double xs, ref double squares, ref double ys, nuint at)
        {
            var xj = Vector256.LoadUnsafe(ref xs, at);
            var argument = vNegativeGamma * ((vxSquareI + Vector256.LoadUnsafe(ref squares, at)) - two * (vxi * xj));
            return vyi * Vector256.LoadUnsafe(ref ys, at) * Vector256.Exp(argument);
        }
    }

    /// <summary>
    /// Least-recently-used cache of Q rows. Every buffer has room for a whole row, so a row can grow in place
    /// (the solver first asks for the active part, later for all of it); a budget in bytes bounds the count.
    /// </summary>
    private sealed class RowCache
    {
        private readonly int _count;
        private readonly int _maxRows;
        private readonly float[]?[] _rows;
        private readonly int[] _length;
        private readonly int[] _previous;
        private readonly int[] _next;
        private readonly Stack<float[]> _spare = new();
        private readonly List<(int Low, int High)> _pendingSwaps = [];
        private int _rowCount;

        public RowCache(int count, long bytes)
        {
            _count = count;
            // At least two rows: the solver holds row i while it fetches row j.
            _maxRows = (int)Math.Clamp(bytes / Math.Max(1L, 4L * count), 2, Math.Max(2, count));
            _rows = new float[count][];
            _length = new int[count];
            _previous = new int[count + 1];
            _next = new int[count + 1];
            _previous[count] = _next[count] = count; // sentinel
        }

        public float[] Get(int index, int length, out int validFrom)
        {
            if (_pendingSwaps.Count > 0)
            {
                ApplyPendingSwaps();
            }

            var row = _rows[index];
            if (row is not null)
            {
                Unlink(index);
            }
            else
            {
                row = Take();
                _rows[index] = row;
            }

            validFrom = _length[index];
            if (length > _length[index])
            {
                _length[index] = length;
            }

            LinkLast(index);
            return row;
        }

        // libsvm swaps entries i and j of every cached row at every swap, which costs a pass over the cache per
        // swap; shrinking makes thousands of swaps in a row, so here the row pointers move at once and the
        // entry swaps are queued, then replayed row by row before a row is next read. The result is the same.
        public void Swap(int i, int j)
        {
            if (_rows[i] is not null)
            {
                Unlink(i);
            }

            if (_rows[j] is not null)
            {
                Unlink(j);
            }

            (_rows[i], _rows[j]) = (_rows[j], _rows[i]);
            (_length[i], _length[j]) = (_length[j], _length[i]);
            if (_rows[i] is not null)
            {
                LinkLast(i);
            }

            if (_rows[j] is not null)
            {
                LinkLast(j);
            }

            if (_rowCount > 0)
            {
                _pendingSwaps.Add((Math.Min(i, j), Math.Max(i, j)));
            }
        }

        private void ApplyPendingSwaps()
        {
            for (var h = _next[_count]; h != _count;)
            {
                var following = _next[h];
                var data = _rows[h]!;
                var length = _length[h];
                foreach (var (low, high) in _pendingSwaps)
                {
                    if (length <= low)
                    {
                        continue;
                    }

                    if (length <= high)
                    {
                        // The row does not reach the far index: drop it rather than leave a hole (as libsvm).
                        Drop(h);
                        break;
                    }

                    (data[low], data[high]) = (data[high], data[low]);
                }

                h = following;
            }

            _pendingSwaps.Clear();
        }

        private float[] Take()
        {
            if (_spare.Count > 0)
            {
                _rowCount++;
                return _spare.Pop();
            }

            if (_rowCount < _maxRows)
            {
                _rowCount++;
                return new float[_count];
            }

            var oldest = _next[_count];
            var buffer = _rows[oldest]!;
            Unlink(oldest);
            _rows[oldest] = null;
            _length[oldest] = 0;
            return buffer;
        }

        private void Drop(int h)
        {
            Unlink(h);
            _spare.Push(_rows[h]!);
            _rows[h] = null;
            _length[h] = 0;
            _rowCount--;
        }

        private void Unlink(int h)
        {
            _next[_previous[h]] = _next[h];
            _previous[_next[h]] = _previous[h];
        }

        private void LinkLast(int h)
        {
            var last = _previous[_count];
            _next[last] = h;
            _previous[h] = last;
            _next[h] = _count;
            _previous[_count] = h;
        }
    }
}
