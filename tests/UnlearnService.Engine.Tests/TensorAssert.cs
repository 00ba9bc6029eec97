using TorchSharp;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests;

internal static class TensorAssert
{
    /// <summary>Same dtype, same shape and bit-for-bit the same values.</summary>
    public static bool Same(Tensor actual, Tensor expected)
    {
        if (actual.dtype != expected.dtype || !actual.shape.SequenceEqual(expected.shape))
            return false;
        using var scope = torch.NewDisposeScope();
        return actual.cpu().contiguous().bytes.SequenceEqual(expected.cpu().contiguous().bytes);
    }
}
