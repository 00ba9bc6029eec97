using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Evaluation;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Evaluation;

public sealed class PredictionsTests
{
    static nn.Module<Tensor, Tensor> SmallMlp() =>
        ModelZoo.Create(new ModelSpec { Architecture = Architecture.Mlp, InputShape = [8], Outputs = 3, Width = 16, Depth = 1 }, seed: 1);

    [Fact]
    public void Of_FiniteWeightsThatOverflow_ThrowsDivergedInsteadOfNaNFeatures()
    {
        using var dataset = SyntheticData.Blobs();
        using var data = new DeviceData(dataset, torch.CPU);
        using var model = SmallMlp();
        using (torch.no_grad())
            foreach (var p in model.parameters()) p.fill_(1e30f); // every weight finite, every output past float's range

        var error = Assert.Throws<TrainingDivergedException>(() => Predictions.Of(model, data, dataset.IndicesOf(Split.Train)));

        Assert.Contains("NaN or infinite", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Counts forward calls and cancels after the first, as a user's cancellation arriving mid-evaluation.</summary>
    sealed class CancelsAfterFirstBatch(nn.Module<Tensor, Tensor> inner, CancellationTokenSource source) : nn.Module<Tensor, Tensor>("cancels")
    {
        public int Calls { get; private set; }

        public override Tensor forward(Tensor input)
        {
            if (++Calls == 1) source.Cancel();
            return inner.forward(input);
        }
    }

    [Fact]
    public void MeasureAndOf_CancelledMidway_StopAtTheNextBatchAndRestoreTheMode()
    {
        using var dataset = SyntheticData.Blobs();
        using var data = new DeviceData(dataset, torch.CPU);
        using var inner = SmallMlp();
        var train = dataset.IndicesOf(Split.Train);
        var test = dataset.IndicesOf(Split.Test);

        using var source = new CancellationTokenSource();
        using var model = new CancelsAfterFirstBatch(inner, source);
        model.train();
        Assert.ThrowsAny<OperationCanceledException>(() => Predictions.Of(model, data, train, batchSize: 16, cancellationToken: source.Token));
        Assert.Equal(1, model.Calls);
        Assert.True(model.training);

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => UnlearningMetrics.Measure(model, data, train[..10], train[10..], test, cancelled.Token));
        Assert.Equal(1, model.Calls);
    }

    [Fact]
    public void Of_TrainedModel_GivesOneProbabilityAndLossPerSample()
    {
        using var dataset = SyntheticData.Blobs();
        using var data = new DeviceData(dataset, torch.CPU);
        using var model = SmallMlp();
        var train = dataset.IndicesOf(Split.Train);
        Trainer.Train(model, data, train, new TrainingOptions { Epochs = 10, BatchSize = 32 });

        var predictions = Predictions.Of(model, data, train);

        Assert.Equal(train.Length, predictions.Count);
        Assert.All(predictions.TrueLabelProbability, p => Assert.InRange(p, 0f, 1f));
        Assert.InRange(predictions.AccuracyPercent, 80, 100);
        Assert.True(predictions.MeanLoss < 0.7, $"mean loss {predictions.MeanLoss}");
    }
}
