using UnlearnService.Engine.Evaluation;

namespace UnlearnService.Cli;

internal static class MarkdownTable
{
    /// <summary>A metrics table with one row per (label, metrics).</summary>
    public static string Metrics(IEnumerable<(string Label, UnlearningMetrics Metrics)> rows)
    {
        var lines = new List<string>
        {
            "| model | UA | RA | TA | MIA-efficacy | MIA shadow acc. | forget MSE | test MSE |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        };
        foreach (var (label, m) in rows)
            lines.Add($"| {label} | {F(m.UnlearningAccuracy)} | {F(m.RetainAccuracy)} | {F(m.TestAccuracy)} | {m.Mia.Efficacy:F2} | {m.Mia.ShadowAccuracy:F1} | {F(m.ForgetMse, "G4")} | {F(m.TestMse, "G4")} |");
        return string.Join(Environment.NewLine, lines);
    }

    public static string F(double? value, string format = "F2") => value is { } v ? v.ToString(format, System.Globalization.CultureInfo.InvariantCulture) : "—";
}
