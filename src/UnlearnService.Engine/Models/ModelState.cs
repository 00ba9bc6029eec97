using TorchSharp;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Models;

/// <summary>Copies of a model's weights, to run several methods or candidates from the same start.</summary>
public static class ModelState
{
    /// <summary>Detached clones of every parameter and buffer; the caller owns them.</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module<Tensor, Tensor> model)
    {
        // The scope holds each detached view until its copy exists: a temporary's finalizer could free it mid-call.
        using var scope = torch.NewDisposeScope();
        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
    }

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

    /// <summary>
    /// How far the model's trainable parameters moved from <paramref name="start"/> (a <see cref="Snapshot"/>):
    /// ‖θ − θ₀‖ / ‖θ₀‖ over all of them together (buffers excluded).
    /// </summary>
    public static double RelativeChange(nn.Module<Tensor, Tensor> model, IReadOnlyDictionary<string, Tensor> start)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        double moved = 0, size = 0;
        foreach (var (name, parameter) in model.named_parameters())
        {
            var origin = start[name].to(torch.float64);
            moved += (parameter.to(torch.float64) - origin).pow(HeldScalars.Two).sum().item<double>();
            size += origin.pow(HeldScalars.Two).sum().item<double>();
        }
        return size > 0 ? Math.Sqrt(moved / size) : Math.Sqrt(moved);
    }

    /// <summary>Copies <paramref name="state"/> back into the model, in place (same devices as the model).</summary>
    public static void Restore(nn.Module<Tensor, Tensor> model, IReadOnlyDictionary<string, Tensor> state)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, tensor) in model.state_dict()) tensor.copy_(state[name]);
    }
}
