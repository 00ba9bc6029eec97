using TorchSharp;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Training;

/// <summary>
/// Training augmentation of image batches, drawn per sample: a random crop of the image zero-padded by
/// <see cref="Padding"/> pixels on every side (a shift by up to that many pixels), a random horizontal flip, or both. The same
/// augmentation applies wherever ALGORITHMS.md says "the training augmentation": training, Retrain, SalUn's saliency
/// and every unlearning update. Evaluation and SSD's importances never augment.
/// </summary>
public sealed record Augmentation
{
    /// <summary>Pixels of zero padding on each side before the crop (shifts of up to that many pixels); 0 for none.</summary>
    public int Padding { get; init; }

    /// <summary>Mirror a random half of the images left to right.</summary>
    public bool HorizontalFlip { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first impossible value.</summary>
    public void Validate()
    {
        if (Padding is < 0 or > 64) throw new ArgumentException($"Augmentation padding {Padding} must be between 0 and 64 pixels.");
        // An augmentation that changes nothing is almost certainly a mistyped recipe; say so instead of training plain.
        if (Padding == 0 && !HorizontalFlip)
            throw new ArgumentException("Augmentation does nothing: set padding above 0, horizontalFlip true, or leave augmentation out.");
    }

    /// <summary>
    /// A randomly shifted and flipped copy of <paramref name="images"/> ([batch, channels, height, width]), drawn from
    /// <paramref name="generator"/> (shifts first, then flips). Created in the caller's dispose scope.
    /// </summary>
    internal Tensor Apply(Tensor images, Generator generator)
    {
        if (images.dim() != 4)
            throw new ArgumentException($"Augmentation needs image batches [batch, channels, height, width], not {images.dim()} dimensions.");
        var (batch, channels, height, width) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3]);
        var device = images.device;
        var p = Padding;
        if (p == 0)
        {
            if (!HorizontalFlip) return images;
            var mirror = Draw(2, batch, generator, device).to_type(ScalarType.Bool).view(batch, 1, 1, 1);
            return torch.where(mirror, images.flip(3), images);
        }
        var shiftY = Draw(2 * p + 1, batch, generator, device);
        var shiftX = Draw(2 * p + 1, batch, generator, device);
        using var widthScalar = width.ToScalar(); // held for the call (engine README: Scalars)
        using var heightScalar = height.ToScalar();
        var columnsOf = torch.arange(HeldScalars.Zero, widthScalar, HeldScalars.One, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(batch, width);
        if (HorizontalFlip)
        {
            var mirror = Draw(2, batch, generator, device).to_type(ScalarType.Bool);
            columnsOf = torch.where(mirror, columnsOf.flip(1), columnsOf); // flipped: width − 1 − column
        }
        // Two gathers pick each sample's rows, then its (possibly mirrored) columns, out of the zero-padded image.
        var padded = nn.functional.pad(images, [p, p, p, p]);
        var rows = shiftY.add(torch.arange(HeldScalars.Zero, heightScalar, HeldScalars.One, dtype: ScalarType.Int64, device: device).unsqueeze(0), HeldScalars.One)
            .view(batch, 1, height, 1).expand(batch, channels, height, width + 2 * p);
        var columns = shiftX.add(columnsOf, HeldScalars.One).view(batch, 1, 1, width).expand(batch, channels, height, width);
        return padded.gather(2, rows).gather(3, columns);
    }

    /// <summary>One draw in [0, <paramref name="count"/>) per sample, as a [batch, 1] column on <paramref name="device"/>.</summary>
    static Tensor Draw(long count, long batch, Generator generator, Device device) =>
        torch.randint(0, count, [batch, 1], dtype: ScalarType.Int64, generator: generator).to(device);
}
