using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;

namespace UnlearnService.Features.Models;

/// <summary>
/// The two kinds of weights a version can hold: a zoo model's safetensors state dict (with its spec in the
/// metadata), or a TorchScript archive, which is loaded, unlearned and saved back as TorchScript.
/// </summary>
internal static class ModelArchive
{
    public static bool IsTorchScript(ModelSpec spec) => spec.Architecture == Architecture.TorchScript;

    public static string Extension(ModelSpec spec) => IsTorchScript(spec) ? "pt" : "safetensors";

    /// <exception cref="ModelFormatException">The weights do not load as <paramref name="spec"/>.</exception>
    public static LoadedModel Load(Stream stream, ModelSpec spec)
    {
        if (!IsTorchScript(spec)) return ModelFile.Load(stream, spec);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return new LoadedModel(TorchScriptModel.Load(buffer.ToArray()), spec, null, new Dictionary<string, string>());
    }

    public static void Save(Stream stream, LoadedModel model, TrainingOptions? recipe)
    {
        if (model.Model is TorchScriptModel script) stream.Write(script.Save());
        else ModelFile.Save(stream, model.Model, model.Spec, recipe);
    }
}
