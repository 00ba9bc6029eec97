using TorchSharp;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Models;

/// <summary>Builds zoo models. Parameter and buffer names follow PyTorch/torchvision conventions.</summary>
public static class ModelZoo
{
    /// <summary>
    /// Creates a freshly initialised model on the CPU. Every weight is drawn from a generator of its own, seeded with
    /// <paramref name="seed"/>: never from libtorch's global generator, which any other thread of the process may be
    /// drawing from at the same time. Same seed, same weights.
    /// </summary>
    public static nn.Module<Tensor, Tensor> Create(ModelSpec spec, long seed)
    {
        spec.Validate();
        TorchRuntime.Initialize();
        nn.Module<Tensor, Tensor> model = spec.Architecture switch
        {
            Architecture.Mlp => new Mlp(spec),
            Architecture.SmallCnn => new SmallCnn(spec),
            Architecture.ResNet18 => new ResNet18(spec),
            Architecture.TorchScript => throw new ArgumentException("A TorchScript model cannot be built from a spec: load its archive (TorchScriptModel.Load)."),
            _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Architecture, "Unknown architecture."),
        };
        // The layer constructors above drew their own default weights from the global generator; every one of them
        // is overwritten here, so those draws (and other threads' interleaving with them) leave no trace.
        using var generator = new Generator((ulong)seed, torch.CPU);
        Initialize(model, generator, convolutionsKaimingFanOut: spec.Architecture == Architecture.ResNet18);
        return model;
    }

    /// <summary>
    /// PyTorch's initialisation, drawn from <paramref name="generator"/> in module order: Linear and Conv2d weights and
    /// biases uniform in ±1/√fan_in (kaiming_uniform_ with a = √5, as nn.Linear and nn.Conv2d do); torchvision's
    /// ResNet draws its convolutions from N(0, 2/fan_out) instead (kaiming_normal_, fan_out, ReLU). BatchNorm keeps
    /// γ = 1, β = 0 and its fresh running statistics.
    /// </summary>
    static void Initialize(nn.Module<Tensor, Tensor> model, Generator generator, bool convolutionsKaimingFanOut)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            var (weight, bias, kernel) = module switch
            {
                TorchSharp.Modules.Linear linear => (linear.weight, linear.bias, 1L),
                TorchSharp.Modules.Conv2d conv => (conv.weight, conv.bias, conv.weight!.shape[2] * conv.weight.shape[3]),
                _ => (null, null, 0L),
            };
            if (weight is null) continue;
            var fanIn = weight.shape[1] * kernel;
            var bound = 1 / Math.Sqrt(fanIn);
            if (module is TorchSharp.Modules.Conv2d && convolutionsKaimingFanOut)
                weight.normal_(0, Math.Sqrt(2.0 / (weight.shape[0] * kernel)), generator);
            else
                weight.uniform_(-bound, bound, generator);
            bias?.uniform_(-bound, bound, generator);
        }
    }
}

/// <summary>
/// PyTorch equivalent: flatten, then fc1 … fc{depth} (Linear + ReLU), then fc{depth+1} to the outputs.
/// </summary>
internal sealed class Mlp : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor>[] _layers;

    public Mlp(ModelSpec spec) : base(nameof(Mlp))
    {
        var inputs = spec.InputShape.Aggregate(1L, (a, b) => a * b);
        var width = spec.ResolvedWidth;
        _layers = new nn.Module<Tensor, Tensor>[spec.ResolvedDepth + 1];
        for (var i = 0; i < _layers.Length; i++)
        {
            var fanIn = i == 0 ? inputs : width;
            var fanOut = i == _layers.Length - 1 ? spec.Outputs : width;
            _layers[i] = nn.Linear(fanIn, fanOut);
            register_module($"fc{i + 1}", _layers[i]);
        }
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.flatten(1);
        for (var i = 0; i < _layers.Length - 1; i++)
            x = nn.functional.relu(_layers[i].forward(x));
        return _layers[^1].forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// PyTorch equivalent: conv1(3×3, pad 1) → bn1 → ReLU → max-pool 2 → conv2(3×3, pad 1, 2× channels) → bn2 →
/// ReLU → max-pool 2 → flatten → fc1(128) → ReLU → fc2.
/// </summary>
internal sealed class SmallCnn : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor> conv1;
    readonly nn.Module<Tensor, Tensor> bn1;
    readonly nn.Module<Tensor, Tensor> conv2;
    readonly nn.Module<Tensor, Tensor> bn2;
    readonly nn.Module<Tensor, Tensor> fc1;
    readonly nn.Module<Tensor, Tensor> fc2;

    public SmallCnn(ModelSpec spec) : base(nameof(SmallCnn))
    {
        var channels = spec.InputShape[0];
        var width = spec.ResolvedWidth;
        conv1 = nn.Conv2d(channels, width, 3, padding: 1, bias: false);
        bn1 = new BatchNorm2d(width);
        conv2 = nn.Conv2d(width, 2 * width, 3, padding: 1, bias: false);
        bn2 = new BatchNorm2d(2 * width);
        var flat = 2 * width * (spec.InputShape[1] / 4) * (spec.InputShape[2] / 4);
        fc1 = nn.Linear(flat, 128);
        fc2 = nn.Linear(128, spec.Outputs);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.max_pool2d(nn.functional.relu(bn1.forward(conv1.forward(input))), 2);
        x = nn.functional.max_pool2d(nn.functional.relu(bn2.forward(conv2.forward(x))), 2);
        x = nn.functional.relu(fc1.forward(x.flatten(1)));
        return fc2.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// ResNet-18 with the CIFAR stem: conv1 is 3×3 stride 1 and there is no max-pool. Names match torchvision's
/// resnet18 (conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc, …), so its state dicts load unchanged.
/// </summary>
internal sealed class ResNet18 : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor> conv1;
    readonly nn.Module<Tensor, Tensor> bn1;
    readonly nn.Module<Tensor, Tensor> layer1;
    readonly nn.Module<Tensor, Tensor> layer2;
    readonly nn.Module<Tensor, Tensor> layer3;
    readonly nn.Module<Tensor, Tensor> layer4;
    readonly nn.Module<Tensor, Tensor> fc;

    public ResNet18(ModelSpec spec) : base(nameof(ResNet18))
    {
        var w = spec.ResolvedWidth;
        conv1 = nn.Conv2d(spec.InputShape[0], w, 3, stride: 1, padding: 1, bias: false);
        bn1 = new BatchNorm2d(w);
        layer1 = Stage(w, w, 1);
        layer2 = Stage(w, 2 * w, 2);
        layer3 = Stage(2 * w, 4 * w, 2);
        layer4 = Stage(4 * w, 8 * w, 2);
        fc = nn.Linear(8 * w, spec.Outputs);
        RegisterComponents();
    }

    static nn.Module<Tensor, Tensor> Stage(long inPlanes, long planes, long stride) =>
        nn.Sequential(("0", new BasicBlock(inPlanes, planes, stride)), ("1", new BasicBlock(planes, planes, 1)));

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(bn1.forward(conv1.forward(input)));
        x = layer4.forward(layer3.forward(layer2.forward(layer1.forward(x))));
        x = nn.functional.adaptive_avg_pool2d(x, [1, 1]).flatten(1);
        return fc.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's BasicBlock: conv1 → bn1 → ReLU → conv2 → bn2, plus the (downsampled) input, → ReLU.</summary>
internal sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    readonly nn.Module<Tensor, Tensor> conv1;
    readonly nn.Module<Tensor, Tensor> bn1;
    readonly nn.Module<Tensor, Tensor> conv2;
    readonly nn.Module<Tensor, Tensor> bn2;
    readonly nn.Module<Tensor, Tensor>? downsample;

    public BasicBlock(long inPlanes, long planes, long stride) : base(nameof(BasicBlock))
    {
        conv1 = nn.Conv2d(inPlanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn1 = new BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, stride: 1, padding: 1, bias: false);
        bn2 = new BatchNorm2d(planes);
        if (stride != 1 || inPlanes != planes)
            downsample = nn.Sequential(("0", nn.Conv2d(inPlanes, planes, 1, stride: stride, bias: false)), ("1", new BatchNorm2d(planes)));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(bn1.forward(conv1.forward(input)));
        x = bn2.forward(conv2.forward(x));
        var identity = downsample is null ? input : downsample.forward(input);
        return nn.functional.relu(x.add(identity, HeldScalars.One)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// PyTorch's BatchNorm2d (ε 1e-5, momentum 0.1, affine, running statistics; same parameter and buffer names), with
/// TorchSharp's forward pass except that the count of batches is raised through held Scalars: TorchSharp's own
/// <c>num_batches_tracked.add_(1)</c> passes two temporaries a collection on another thread can free mid-call
/// (engine README: Scalars). The count is reported in state dicts only; momentum decides the running statistics.
/// </summary>
internal sealed class BatchNorm2d(long features)
    : TorchSharp.Modules.BatchNorm(features, eps: 1e-5, momentum: 0.1, affine: true, track_running_stats: true, device: null, dtype: null, name: nameof(BatchNorm2d))
{
    public override Tensor forward(Tensor input)
    {
        ValidateInputDimensions(input);
        if (training) num_batches_tracked!.add_(HeldScalars.One, HeldScalars.One);
        return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, momentum!.Value, eps);
    }

    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.ndim != 4) throw new ArgumentException($"BatchNorm2d expects a 4D input, not {input.ndim}D.");
    }
}
