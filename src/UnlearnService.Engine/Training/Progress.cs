namespace UnlearnService.Engine.Training;

/// <summary>A progress report: the current phase (e.g. "saliency", "epoch 3/10") and the fraction of all work done.</summary>
/// <param name="Phase">Short name of what is running now.</param>
/// <param name="Fraction">0 … 1 over the whole operation.</param>
public readonly record struct EngineProgress(string Phase, double Fraction);

/// <summary>Splits one operation's progress into weighted phases.</summary>
internal sealed class ProgressTracker(IProgress<EngineProgress>? sink, double totalWork)
{
    double _done;

    public void Advance(string phase, double work)
    {
        _done = Math.Min(totalWork, _done + work);
        sink?.Report(new EngineProgress(phase, totalWork <= 0 ? 1 : _done / totalWork));
    }

    public void Report(string phase) => sink?.Report(new EngineProgress(phase, totalWork <= 0 ? 1 : _done / totalWork));
}
