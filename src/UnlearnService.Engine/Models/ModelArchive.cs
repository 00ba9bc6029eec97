using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Training;

namespace UnlearnService.Engine.Models;

/// <summary>
/// The two kinds of weights a model can come in: a zoo model's safetensors state dict (spec in the metadata), or a
/// TorchScript archive, which is loaded, unlearned and saved back as TorchScript.
/// </summary>
public static class ModelArchive
{
    /// <summary>Whether the spec describes a TorchScript archive.</summary>
    public static bool IsTorchScript(ModelSpec spec) => spec.Architecture == Architecture.TorchScript;

    /// <summary>The file extension of the spec's weights: "pt" or "safetensors".</summary>
    public static string Extension(ModelSpec spec) => IsTorchScript(spec) ? "pt" : "safetensors";

    /// <summary>Loads weights as <paramref name="spec"/> says (a TorchScript spec reads an archive; others safetensors).</summary>
    /// <exception cref="ModelFormatException">The weights do not load as the spec.</exception>
    /// <exception cref="SafeTensorsFormatException">A non-TorchScript spec's file is not valid safetensors.</exception>
    public static LoadedModel Load(Stream stream, ModelSpec spec)
    {
        if (!IsTorchScript(spec)) return ModelFile.Load(stream, spec);
        return new LoadedModel(TorchScriptModel.Load(stream), spec, null, new Dictionary<string, string>());
    }

    /// <summary>Writes the model in its own kind: TorchScript back as TorchScript, zoo models as safetensors with their spec.</summary>
    public static void Save(Stream stream, LoadedModel model, TrainingOptions? recipe)
    {
        if (model.Model is TorchScriptModel script) stream.Write(script.Save());
        else ModelFile.Save(stream, model.Model, model.Spec, recipe);
    }
}
