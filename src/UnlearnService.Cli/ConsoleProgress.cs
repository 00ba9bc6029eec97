using UnlearnService.Engine.Training;

namespace UnlearnService.Cli;

/// <summary>
/// A progress bar on stderr: redrawn in place on a terminal, one line per 10% otherwise (logs stay readable).
/// </summary>
internal sealed class ConsoleProgress(string title) : IProgress<EngineProgress>
{
    readonly bool _interactive = !Console.IsErrorRedirected;
    int _lastDecile = -1;
    string _lastLine = "";

    public void Report(EngineProgress value)
    {
        var fraction = Math.Clamp(value.Fraction, 0, 1);
        if (_interactive)
        {
            const int width = 30;
            var filled = (int)Math.Round(fraction * width);
            var line = $"\r{title} [{new string('#', filled)}{new string('.', width - filled)}] {fraction,4:P0} {value.Phase}";
            if (line == _lastLine) return;
            Console.Error.Write(line.PadRight(Math.Max(_lastLine.Length, line.Length)));
            _lastLine = line;
            return;
        }
        var decile = (int)(fraction * 10);
        if (decile == _lastDecile) return;
        _lastDecile = decile;
        Console.Error.WriteLine($"{title}: {fraction:P0} {value.Phase}");
    }

    /// <summary>Ends the bar's line.</summary>
    public void Done()
    {
        if (_interactive && _lastLine.Length > 0) Console.Error.WriteLine();
        _lastLine = "";
    }
}
