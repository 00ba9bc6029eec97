using TorchSharp;

namespace UnlearnService.Engine.Runtime;

/// <summary>
/// Constant Scalars held for the life of the process. TorchSharp turns a number passed where libtorch takes a Scalar
/// into a temporary with a finalizer, and a garbage collection on another thread can free it while libtorch still
/// reads it (engine README: Scalars). Its own shorthands do this too: <c>a + b</c> and <c>a.add_(b)</c> pass an
/// implicit alpha of 1, <c>square()</c> an exponent of 2, <c>arange(n)</c> a start and a step, and so does BatchNorm's
/// training pass (hence the zoo's own <see cref="Models.BatchNorm2d"/>). The engine passes these instead; a test reads
/// the engine's IL to keep it so.
/// </summary>
internal static class HeldScalars
{
    static HeldScalars()
    {
        TorchRuntime.Initialize(); // before the first Scalar loads libtorch (field initialisers would run first)
        Zero = 0.ToScalar();
        One = 1.ToScalar();
        Two = 2.ToScalar();
    }

    /// <summary>0, where a range starts.</summary>
    public static readonly Scalar Zero;

    /// <summary>1, the alpha of a plain addition.</summary>
    public static readonly Scalar One;

    /// <summary>2, the exponent of a square.</summary>
    public static readonly Scalar Two;
}
