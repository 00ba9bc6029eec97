using TorchSharp;
using TorchSharp.Modules;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Training;

/// <summary>
/// A step whose gradients come out NaN at a finite loss (libtorch's small-channel convolutions do this now and then
/// under preemption) is recomputed from where it started. The fault is injected here: on chosen forward calls the
/// model adds √|f|·0 for a parameter f = 0, which leaves the output as it is and makes f's gradient NaN.
/// </summary>
public sealed class FiniteGradientsTests
{
    sealed class FaultyNet : nn.Module<Tensor, Tensor>
    {
        readonly Linear fc1;
        readonly UnlearnService.Engine.Models.BatchNorm2d bn;
        readonly Linear fc2;
        readonly Parameter fault;
        readonly Func<int, bool> faultsOn;

        public FaultyNet(Func<int, bool> faultsOn) : base(nameof(FaultyNet))
        {
            fc1 = nn.Linear(64, 8);
            bn = new UnlearnService.Engine.Models.BatchNorm2d(8);
            fc2 = nn.Linear(8, 2);
            fault = new Parameter(torch.zeros(1));
            this.faultsOn = faultsOn;
            RegisterComponents();
            using var generator = new Generator(9, torch.CPU);
            using var noGrad = torch.no_grad();
            foreach (var p in new[] { fc1.weight, fc1.bias!, fc2.weight, fc2.bias! }) p.uniform_(-0.3, 0.3, generator);
        }

        public int Calls { get; private set; }

        public override Tensor forward(Tensor input)
        {
            var hidden = bn.forward(fc1.forward(input.flatten(1)).view(-1, 8, 1, 1)).flatten(1);
            var output = fc2.forward(nn.functional.relu(hidden));
            return faultsOn(++Calls) ? output.add(fault.abs().sqrt().mul(torch.zeros(1)), HeldScalars.One) : output;
        }
    }

    public FiniteGradientsTests() => TorchRuntime.Initialize();

    static readonly Augmentation Flips = new() { HorizontalFlip = true };

    /// <summary>Two epochs of random-label updates over 16 images in batches of 4, flipped: every kind of state a step draws or changes.</summary>
    static (Dictionary<string, Tensor> State, double[] Losses, int Calls) Run(Func<int, bool> faultsOn)
    {
        using var dataset = SyntheticData.Images(train: 16, test: 4);
        using var data = new DeviceData(dataset, torch.CPU);
        using var model = new FaultyNet(faultsOn);
        var train = dataset.IndicesOf(Split.Train);
        using var generator = new Generator(4, torch.CPU);
        using var sgd = new Sgd(model.parameters(), 0.05, 0.9, 5e-4);
        var relabel = RandomTargets.For(data, train, generator);
        model.train();
        var losses = new double[2];
        for (var epoch = 0; epoch < 2; epoch++)
            losses[epoch] = Loop.Pass(model, data, train, 4, generator, Flips, sgd,
                (output, targets) => nn.functional.cross_entropy(output, relabel(targets)), null, CancellationToken.None);
        return (ModelState.Snapshot(model), losses, model.Calls);
    }

    [Fact]
    public void Pass_FaultyGradientsOnSomeSteps_RecomputedBitIdentical()
    {
        var clean = Run(_ => false);
        var recomputedBefore = FiniteGradients.RecomputedOnThisThread;
        var faulty = Run(call => call is 3 or 6 or 7); // the third step, and the fifth step twice

        Assert.Equal(clean.Calls + 3, faulty.Calls);
        Assert.Equal(recomputedBefore + 3, FiniteGradients.RecomputedOnThisThread);
        Assert.Equal(clean.Losses, faulty.Losses);
        Assert.Equal(clean.State.Keys.Order(), faulty.State.Keys.Order());
        foreach (var (name, value) in clean.State)
            TensorAssert.BitIdentical(value, faulty.State[name], name);
        Assert.Equal(8, faulty.State["bn.num_batches_tracked"].item<long>());
    }

    [Fact]
    public void Pass_GradientsNonFiniteInEveryAttempt_Diverged()
    {
        var error = Assert.Throws<TrainingDivergedException>(() => Run(call => call >= 2));

        Assert.Contains("at a finite loss (0.", error.Message);
        Assert.Contains($"in {FiniteGradients.MaxAttempts} attempts", error.Message);
    }

    [Fact]
    public void Unlearner_StepRecomputed_SaysSoInItsDetails()
    {
        using var dataset = SyntheticData.Images(train: 16, test: 4);
        using var data = new DeviceData(dataset, torch.CPU);
        var train = dataset.IndicesOf(Split.Train);
        var spec = new ModelSpec { Architecture = Architecture.Mlp, InputShape = [1, 8, 8], Outputs = 2 };
        var settings = new UnlearningSettings { Epochs = 1, BatchSize = 4, LearningRate = 0.01, Seed = 1 };

        IReadOnlyDictionary<string, double> DetailsOf(Func<int, bool> faultsOn)
        {
            using var model = new FaultyNet(faultsOn);
            var job = new UnlearningJob { Model = model, Spec = spec, Data = data, Forget = train.Take(4).ToArray(), Retain = train.Skip(4).ToArray() };
            return Unlearner.Run(UnlearningMethod.FineTune, settings, job).Details;
        }

        Assert.False(DetailsOf(_ => false).ContainsKey("recomputed_steps"));
        Assert.Equal(2, DetailsOf(call => call is 1 or 3)["recomputed_steps"]);
    }

    [Fact]
    public void Trainer_StepsRecomputed_CountedInItsReport()
    {
        using var dataset = SyntheticData.Images(train: 16, test: 4);
        using var data = new DeviceData(dataset, torch.CPU);
        var options = new TrainingOptions { Epochs = 2, BatchSize = 4, Seed = 3 };

        TrainingReport Train(Func<int, bool> faultsOn)
        {
            using var model = new FaultyNet(faultsOn);
            return Trainer.Train(model, data, dataset.IndicesOf(Split.Train), options);
        }

        var clean = Train(_ => false);
        var faulty = Train(call => call is 2 or 6 or 7);

        Assert.Equal(0, clean.RecomputedSteps);
        Assert.Equal(3, faulty.RecomputedSteps);
        Assert.Equal(clean.EpochLosses, faulty.EpochLosses);
    }

    [Fact]
    public void Pass_NonFiniteLoss_NotRetried()
    {
        // NaN in the output is divergence (or a broken model), reported at once.
        using var dataset = SyntheticData.Images(train: 8, test: 4);
        using var data = new DeviceData(dataset, torch.CPU);
        using var model = new FaultyNet(_ => false);
        using (torch.no_grad()) model.named_parameters().Single(p => p.name == "fc2.bias").parameter.fill_(float.NaN);
        using var generator = new Generator(4, torch.CPU);
        using var sgd = new Sgd(model.parameters(), 0.05, 0.9, 5e-4);

        var error = Assert.Throws<TrainingDivergedException>(() =>
            Loop.Pass(model, data, dataset.IndicesOf(Split.Train), 4, generator, null, sgd,
                (output, targets) => nn.functional.cross_entropy(output, targets), null, CancellationToken.None));

        Assert.Contains("the loss became NaN", error.Message);
        Assert.Equal(1, model.Calls);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SaliencyAndImportance_NonFiniteLoss_Diverged(bool overflow)
    {
        // NaN outputs (a broken model), or outputs so large that LF-SSD's ‖f‖² overflows: the mask or the importances
        // would be silently poisoned, so the pass stops instead.
        using var dataset = SyntheticData.Images(train: 8, test: 4);
        using var data = new DeviceData(dataset, torch.CPU);
        var forget = dataset.IndicesOf(Split.Train);
        using var model = new FaultyNet(_ => false);
        using (torch.no_grad()) model.named_parameters().Single(p => p.name == "fc2.bias").parameter.fill_(overflow ? 1e30f : float.NaN);
        using var generator = new Generator(2, torch.CPU);

        var importance = Assert.Throws<TrainingDivergedException>(() => Dampening.Importance(model, data, forget, 4, labelFree: overflow));
        Assert.Contains($"the importance pass is {(overflow ? "infinite" : "NaN")}", importance.Message);
        if (overflow) return; // cross-entropy stays finite for finite logits, however large
        var saliency = Assert.Throws<TrainingDivergedException>(() => Saliency.Gradient(model, data, forget, 4, generator, null, null, CancellationToken.None));
        Assert.Contains("the saliency pass over the forget set is NaN", saliency.Message);
    }

    [Fact]
    public void SaliencyAndImportance_FaultyGradientsOnABatch_SameResult()
    {
        using var dataset = SyntheticData.Images(train: 16, test: 4);
        using var data = new DeviceData(dataset, torch.CPU);
        var forget = dataset.IndicesOf(Split.Train);

        Tensor[] Gradient(Func<int, bool> faultsOn)
        {
            using var model = new FaultyNet(faultsOn);
            using var generator = new Generator(2, torch.CPU);
            return Saliency.Gradient(model, data, forget, 4, generator, Flips, null, CancellationToken.None);
        }

        SsdImportance Importance(Func<int, bool> faultsOn)
        {
            using var model = new FaultyNet(faultsOn);
            return Dampening.Importance(model, data, forget, 4, labelFree: false);
        }

        var cleanGradient = Gradient(_ => false);
        var faultyGradient = Gradient(call => call == 2);
        for (var i = 0; i < cleanGradient.Length; i++)
            TensorAssert.BitIdentical(cleanGradient[i], faultyGradient[i], $"saliency gradient {i}");
        using var cleanImportance = Importance(_ => false);
        using var faultyImportance = Importance(call => call == 4);
        foreach (var (name, value) in cleanImportance.Tensors)
            TensorAssert.BitIdentical(value, faultyImportance.Tensors[name], $"importance of {name}");
        Assert.True(double.IsFinite(faultyImportance.Tensors["fault"].sum().item<float>()));
    }
}
