using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Methods;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Runtime;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Training;

public sealed class BatchesTests
{
    static List<long[]> BatchesOf(int count, int batchSize, bool noLoneLast, Generator? generator = null)
    {
        var batches = new List<long[]>();
        foreach (var batch in Batches.Over(Enumerable.Range(100, count).Select(i => (long)i).ToArray(), batchSize, torch.CPU, generator, noLoneLast))
            using (batch)
                batches.Add(batch.data<long>().ToArray());
        return batches;
    }

    [Theory]
    [InlineData(9, 4, false, new[] { 4, 4, 1 })]
    [InlineData(9, 4, true, new[] { 4, 5 })]
    [InlineData(8, 4, true, new[] { 4, 4 })]
    [InlineData(10, 4, true, new[] { 4, 4, 2 })]
    [InlineData(1, 4, true, new[] { 1 })]
    [InlineData(5, 4, true, new[] { 5 })]
    [InlineData(3, 1, true, new[] { 1, 1, 1 })]
    public void Over_BatchSizes(int count, int batchSize, bool noLoneLast, int[] expected)
    {
        Assert.Equal(expected, BatchesOf(count, batchSize, noLoneLast).Select(b => b.Length));
    }

    [Fact]
    public void Over_ShuffledWithoutLoneLast_EverySampleOnce()
    {
        using var generator = new Generator(7, torch.CPU);

        var batches = BatchesOf(13, 4, noLoneLast: true, generator);

        Assert.Equal([4, 4, 5], batches.Select(b => b.Length));
        var all = batches.SelectMany(b => b).ToArray();
        Assert.Equal(Enumerable.Range(100, 13).Select(i => (long)i), all.Order());
        Assert.NotEqual(Enumerable.Range(100, 13).Select(i => (long)i), all);
    }

    /// <summary>
    /// ResNet-18 on 8×8 inputs ends in 1×1 feature maps, where libtorch's BatchNorm refuses a train-mode batch of one
    /// sample. 9 samples in batches of 4 used to end in such a batch; training and SalUn (a forget set of 5) now run.
    /// </summary>
    [Fact]
    public void TrainAndSalUn_ResNetOnTinyImagesWithOneSampleLeftOver_Run()
    {
        TorchRuntime.Initialize();
        using var dataset = SyntheticData.Images(train: 9, test: 4);
        using var data = new DeviceData(dataset, torch.CPU);
        var spec = new ModelSpec { Architecture = Architecture.ResNet18, InputShape = [1, 8, 8], Outputs = 2, Width = 2 };
        using var model = ModelZoo.Create(spec, seed: 1);
        var train = dataset.IndicesOf(Split.Train);
        var recipe = new TrainingOptions { Epochs = 2, BatchSize = 4, LearningRate = 0.01, Seed = 3 };

        var report = Trainer.Train(model, data, train, recipe);

        Assert.Equal(2, report.EpochLosses.Count);
        Assert.All(report.EpochLosses, loss => Assert.True(double.IsFinite(loss)));
        var before = ModelState.Snapshot(model);
        var job = new UnlearningJob { Model = model, Spec = spec, Data = data, Forget = train.Take(5).ToArray(), Retain = train.Skip(5).ToArray(), Recipe = recipe };
        Unlearner.Run(UnlearningMethod.SalUn, new UnlearningSettings { Epochs = 1, BatchSize = 4, LearningRate = 0.01, Seed = 4 }, job);
        var after = ModelState.Snapshot(model);
        Assert.Contains(before, entry => !TensorAssert.Identical(entry.Value, after[entry.Key]));
    }
}
