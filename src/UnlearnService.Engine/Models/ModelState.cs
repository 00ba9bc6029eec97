using TorchSharp;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Models;

/// <summary>Copies of a model's weights, to run several methods or candidates from the same start.</summary>
public static class ModelState
{
    /// <summary>Detached clones of every parameter and buffer; the caller owns them.</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module<Tensor, Tensor> model) =>
        model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    /// <summary>
    /// The name of the first parameter or buffer (BatchNorm statistics included) holding a NaN or infinite value;
    /// null when every floating-point entry is finite.
    /// </summary>
    public static string? FirstNonFinite(nn.Module<Tensor, Tensor> model)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        return model.state_dict().FirstOrDefault(kv => kv.Value.is_floating_point() && !torch.isfinite(kv.Value).all().item<bool>()).Key;
    }

    /// <summary>Copies <paramref name="state"/> back into the model, in place (same devices as the model).</summary>
    public static void Restore(nn.Module<Tensor, Tensor> model, IReadOnlyDictionary<string, Tensor> state)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, tensor) in model.state_dict()) tensor.copy_(state[name]);
    }
}
