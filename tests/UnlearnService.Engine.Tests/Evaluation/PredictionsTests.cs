using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;

namespace UnlearnService.Engine.Tests.Evaluation;

public sealed class PredictionsTests
{
    [Fact]
    public void Of_FiniteWeightsThatOverflow_ThrowsDivergedInsteadOfNaNFeatures()
    {
        using var dataset = SyntheticData.Blobs();
        using var data = new DeviceData(dataset, torch.CPU);
        using var model = ModelZoo.Create(new ModelSpec { Architecture = Architecture.Mlp, InputShape = [8], Outputs = 3, Width = 16, Depth = 1 }, seed: 1);
        using (torch.no_grad())
            foreach (var p in model.parameters()) p.fill_(1e30f); // every weight finite, every output past float's range

        var error = Assert.Throws<TrainingDivergedException>(() => Predictions.Of(model, data, dataset.IndicesOf(Split.Train)));

        Assert.Contains("NaN or infinite", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Of_TrainedModel_GivesOneProbabilityAndLossPerSample()
    {
        using var dataset = SyntheticData.Blobs();
        using var data = new DeviceData(dataset, torch.CPU);
        using var model = ModelZoo.Create(new ModelSpec { Architecture = Architecture.Mlp, InputShape = [8], Outputs = 3, Width = 16, Depth = 1 }, seed: 1);
        var train = dataset.IndicesOf(Split.Train);
        Trainer.Train(model, data, train, new TrainingOptions { Epochs = 10, BatchSize = 32 });

        var predictions = Predictions.Of(model, data, train);

        Assert.Equal(train.Length, predictions.Count);
        Assert.All(predictions.TrueLabelProbability, p => Assert.InRange(p, 0f, 1f));
        Assert.InRange(predictions.AccuracyPercent, 80, 100);
        Assert.True(predictions.MeanLoss < 0.7, $"mean loss {predictions.MeanLoss}");
    }
}
