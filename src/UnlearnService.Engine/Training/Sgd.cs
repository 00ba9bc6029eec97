using TorchSharp;
using TorchSharp.Modules;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Training;

/// <summary>
/// SGD with momentum and weight decay, step for step as torch.optim.SGD (dampening 0, no Nesterov): d = g + wd·θ;
/// buf = d on the first step, else μ·buf + d; θ −= lr·buf. An optional 0/1 mask per parameter freezes entries:
/// their momentum is zeroed and they never move, so after any number of steps they are bit-identical to their
/// start — the state SalUn's reference reaches by restoring them after every step.
/// </summary>
internal sealed class Sgd : IDisposable
{
    readonly Parameter[] _parameters;
    readonly Tensor?[] _buffers;
    readonly Tensor?[]? _masks;
    // Held for the optimizer's life. A double passed where libtorch takes a Scalar becomes a temporary Scalar that
    // nothing references once its handle is read, so the finalizer may free it while the native op still reads it
    // (seen once as "Expected false to be true" from c10::Scalar::toFloat in a parallel test run).
    readonly Scalar _momentum, _weightDecay;
    Scalar _negativeLearningRate;
    double _learningRate;

    public Sgd(IEnumerable<Parameter> parameters, double learningRate, double momentum, double weightDecay, IReadOnlyList<Tensor?>? masks = null)
    {
        _parameters = parameters.Where(p => p.requires_grad).ToArray();
        _buffers = new Tensor?[_parameters.Length];
        if (masks is not null)
        {
            if (masks.Count != _parameters.Length)
                throw new ArgumentException($"{masks.Count} masks for {_parameters.Length} trainable parameters.", nameof(masks));
            _masks = masks.ToArray();
        }
        Momentum = momentum;
        WeightDecay = weightDecay;
        _momentum = momentum.ToScalar();
        _weightDecay = weightDecay.ToScalar();
        _negativeLearningRate = (-learningRate).ToScalar();
        _learningRate = learningRate;
    }

    public double LearningRate
    {
        get => _learningRate;
        set
        {
            _negativeLearningRate.Dispose();
            _negativeLearningRate = (-value).ToScalar();
            _learningRate = value;
        }
    }

    public double Momentum { get; }
    public double WeightDecay { get; }

    /// <summary>The parameters it updates (those that require a gradient).</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    public void Step()
    {
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        for (var i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            var g = p.grad;
            if (g is null) continue;
            var mask = _masks?[i];
            var d = mask is null ? g : g.mul(mask);
            if (WeightDecay != 0) d = d.add(p, alpha: _weightDecay);
            if (Momentum != 0)
            {
                if (_buffers[i] is null)
                {
                    _buffers[i] = d.detach().clone().DetachFromDisposeScope();
                }
                else
                {
                    _buffers[i]!.mul_(_momentum).add_(d, HeldScalars.One);
                }
                d = _buffers[i]!;
            }
            if (mask is not null)
            {
                if (Momentum != 0) _buffers[i]!.mul_(mask);
                else d = d.mul(mask);
            }
            p.add_(d, alpha: _negativeLearningRate);
        }
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b?.Dispose();
        _momentum.Dispose();
        _weightDecay.Dispose();
        _negativeLearningRate.Dispose();
    }
}
