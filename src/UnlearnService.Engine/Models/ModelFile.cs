using System.Security.Cryptography;
using System.Text.Json;
using TorchSharp;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Models;

/// <summary>A model's weights did not fit its architecture, or its file did not describe it.</summary>
public sealed class ModelFormatException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Zoo model weights as safetensors: the state dict with PyTorch names, plus the spec (and the training recipe
/// when known) in the header's metadata so the file describes itself. A plain PyTorch state dict saved as
/// safetensors loads too, given the spec.
/// </summary>
public static class ModelFile
{
    /// <summary>Metadata key of the JSON <see cref="ModelSpec"/>.</summary>
    public const string SpecKey = "unlearn.spec";

    /// <summary>Metadata key of the JSON <see cref="TrainingOptions"/> the weights were trained with.</summary>
    public const string RecipeKey = "unlearn.recipe";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Writes the model's state dict with its spec (and recipe) in the metadata; returns the file's sha256 (hex).</summary>
    public static string Save(string path, nn.Module<Tensor, Tensor> model, ModelSpec spec, TrainingOptions? recipe = null,
        IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        AtomicFile.Write(path, stream => Save(stream, model, spec, recipe, extraMetadata));
        using var read = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(read));
    }

    /// <summary>Writes the model's state dict with its spec (and recipe) in the metadata.</summary>
    public static void Save(Stream stream, nn.Module<Tensor, Tensor> model, ModelSpec spec, TrainingOptions? recipe = null,
        IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var metadata = new Dictionary<string, string>(extraMetadata ?? new Dictionary<string, string>())
        {
            [SpecKey] = JsonSerializer.Serialize(spec, Json),
        };
        if (recipe is not null) metadata[RecipeKey] = JsonSerializer.Serialize(recipe, Json);
        SafeTensors.WriteStateDict(stream, model.state_dict(), metadata);
    }

    /// <summary>
    /// Loads weights into a new zoo model. The spec comes from <paramref name="spec"/> or, when null, from the
    /// file's metadata. Every parameter and buffer must be present with its exact shape; nothing extra is allowed.
    /// </summary>
    /// <exception cref="ModelFormatException">No usable spec, or the weights do not fit it.</exception>
    /// <exception cref="SafeTensorsFormatException">The file is not valid safetensors.</exception>
    public static LoadedModel Load(Stream stream, ModelSpec? spec = null, SafeTensorsLimits? limits = null)
    {
        using var file = SafeTensors.Read(stream, limits);
        spec ??= ReadMetadata<ModelSpec>(file.Metadata, SpecKey)
            ?? throw new ModelFormatException($"The file has no '{SpecKey}' metadata; give the architecture explicitly.");
        try
        {
            spec.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ModelFormatException($"The model spec is impossible: {e.Message}", e);
        }
        if (spec.Architecture == Architecture.TorchScript)
            throw new ModelFormatException("The spec names a TorchScript model, whose weights come in its archive, not as safetensors.");
        var recipe = ReadMetadata<TrainingOptions>(file.Metadata, RecipeKey);
        try
        {
            recipe?.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ModelFormatException($"The stored recipe is impossible: {e.Message}", e);
        }
        var model = ModelZoo.Create(spec, seed: 0);
        try
        {
            LoadStateDict(model, file.Tensors.ToDictionary(t => t.Name, t => t.Tensor));
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new LoadedModel(model, spec, recipe, file.Metadata);
    }

    /// <summary>Loads a model file from disk.</summary>
    public static LoadedModel Load(string path, ModelSpec? spec = null, SafeTensorsLimits? limits = null)
    {
        using var stream = File.OpenRead(path);
        return Load(stream, spec, limits);
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the model's parameters and buffers, strictly: the same names, the
    /// same shapes; dtypes are converted (e.g. a float64 checkpoint into float32 weights), rounding but never
    /// overflowing. NaN and infinite values are copied as they are: the caller decides about them (the service refuses
    /// such a model at registration, see <see cref="ModelState.FirstNonFinite"/>), but none is made by the conversion.
    /// </summary>
    /// <exception cref="ModelFormatException">A name is missing or unexpected, a shape differs, or a value does not fit its dtype.</exception>
    public static void LoadStateDict(nn.Module<Tensor, Tensor> model, IReadOnlyDictionary<string, Tensor> source)
    {
        var target = model.state_dict();
        var missing = target.Keys.Except(source.Keys).Order(StringComparer.Ordinal).ToList();
        var unexpected = source.Keys.Except(target.Keys).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            throw new ModelFormatException(
                $"The weights do not match the architecture: missing [{string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", …" : "")}], " +
                $"unexpected [{string.Join(", ", unexpected.Take(10))}{(unexpected.Count > 10 ? ", …" : "")}].");
        }
        foreach (var (name, tensor) in target)
        {
            if (!tensor.shape.SequenceEqual(source[name].shape))
                throw new ModelFormatException($"'{name}' has shape [{string.Join(", ", source[name].shape)}] but the architecture needs [{string.Join(", ", tensor.shape)}].");
            // Integers are not weights. Integer buffers (num_batches_tracked) take floats only when whole, as a checkpoint
            // converted with .half() or .double() has them; 1.7 would be truncated.
            if (source[name].dtype == ScalarType.Bool || (tensor.is_floating_point() && !source[name].is_floating_point()))
                throw new ModelFormatException($"'{name}' has dtype {source[name].dtype}, which cannot hold {tensor.dtype} weights.");
            if (!tensor.is_floating_point() && source[name].is_floating_point() && !IsWhole(source[name]))
                throw new ModelFormatException($"'{name}' holds a value that is not a whole number, which its {tensor.dtype} buffer cannot take.");
            if (source[name].dtype != tensor.dtype && Overflows(source[name], tensor.dtype))
                throw new ModelFormatException($"'{name}' holds a value outside the range of {tensor.dtype}.");
        }
        using var noGrad = torch.no_grad();
        foreach (var (name, tensor) in target)
            tensor.copy_(source[name]);
    }

    static bool IsWhole(Tensor values)
    {
        using var scope = torch.NewDisposeScope();
        return values.isfinite().all().item<bool>() && values.eq(values.trunc()).all().item<bool>();
    }

    // A float64 1e300 would become infinity in float32, and 1e30 an arbitrary int64 (x86 does not saturate; ARM64 does,
    // so a float's round trip through the integer type could pass there: its range is checked instead).
    static bool Overflows(Tensor values, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        if (values.is_floating_point() && IntegerRange(dtype) is { } range)
        {
            using Scalar lowest = range.Low.ToScalar(), beyond = range.High.ToScalar(); // held for the call (engine README: Scalars)
            return (values.lt(lowest) | values.ge(beyond)).any().item<bool>();
        }
        var converted = values.to(dtype);
        return converted.is_floating_point()
            ? (values.isfinite() & converted.isfinite().logical_not()).any().item<bool>()
            : !converted.to(values.dtype).eq(values).all().item<bool>();
    }

    /// <summary>[low, high) of an integer dtype, as doubles (exact: powers of two).</summary>
    static (double Low, double High)? IntegerRange(ScalarType dtype) => dtype switch
    {
        ScalarType.Int64 => (-Math.Pow(2, 63), Math.Pow(2, 63)),
        ScalarType.Int32 => (-Math.Pow(2, 31), Math.Pow(2, 31)),
        ScalarType.Int16 => (-Math.Pow(2, 15), Math.Pow(2, 15)),
        ScalarType.Int8 => (-128, 128),
        ScalarType.Byte => (0, 256),
        _ => null,
    };

    static T? ReadMetadata<T>(IReadOnlyDictionary<string, string> metadata, string key) where T : class
    {
        if (!metadata.TryGetValue(key, out var json)) return null;
        try
        {
            return JsonSerializer.Deserialize<T>(json, Json)
                ?? throw new ModelFormatException($"The '{key}' metadata is null, not a {typeof(T).Name}.");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"The '{key}' metadata is not a valid {typeof(T).Name}: {e.Message}", e);
        }
    }
}

/// <summary>A model loaded from a file, with what the file said about it.</summary>
/// <param name="Model">The model on the CPU.</param>
/// <param name="Spec">Its zoo spec.</param>
/// <param name="Recipe">The recipe it was trained with, when the file records it.</param>
/// <param name="Metadata">All header metadata.</param>
public sealed record LoadedModel(nn.Module<Tensor, Tensor> Model, ModelSpec Spec, TrainingOptions? Recipe, IReadOnlyDictionary<string, string> Metadata) : IDisposable
{
    /// <inheritdoc />
    public void Dispose() => Model.Dispose();
}
