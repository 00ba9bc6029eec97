using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests;

internal static class TensorAssert
{
    /// <summary>Same dtype, shape and bytes: bit-identical, NaNs included.</summary>
    public static bool Identical(Tensor a, Tensor b)
    {
        if (a.dtype != b.dtype || !a.shape.SequenceEqual(b.shape)) return false;
        using var ca = a.detach().cpu().contiguous();
        using var cb = b.detach().cpu().contiguous();
        return ca.bytes.SequenceEqual(cb.bytes);
    }

    public static void BitIdentical(Tensor expected, Tensor actual, string what) =>
        Assert.True(Identical(expected, actual), $"{what} differs");

    public static float[] Values(Tensor t)
    {
        using var c = t.detach().cpu().to(ScalarType.Float32).contiguous();
        return c.data<float>().ToArray();
    }
}
