using SkiaSharp;

namespace UnlearnService.Evidence;

/// <summary>
/// A top-to-bottom layout on A4 pages: a cursor that moves down and starts a new page when the next block
/// would not fit. Kept deliberately small: the report is a fixed form, not a document engine.
/// </summary>
internal sealed class PdfLayout : IDisposable
{
    private const float PageWidth = 595, PageHeight = 842, Margin = 50, Right = PageWidth - Margin, Bottom = PageHeight - 60;
    private const float LabelWidth = 170;

    private static readonly Lazy<SKTypeface> Typeface = new(LoadTypeface);
    private static readonly SKColor Ink = new(0x1d, 0x1d, 0x1f), Grey = new(0x66, 0x66, 0x66), Rule = new(0xdd, 0xdd, 0xdd);
    private static readonly SKColor PassColor = new(0x1b, 0x7f, 0x3b), FailColor = new(0xb3, 0x26, 0x1e);
    private static readonly SKColor BeforeColor = new(0x8a, 0xa4, 0xc8), AfterColor = new(0x1f, 0x4e, 0x89);

    private readonly SKDocument _document;
    private readonly string _footer;
    private readonly SKPaint _paint = new() { IsAntialias = true };
    private SKCanvas? _canvas;
    private float _y;
    private int _page;

    public PdfLayout(SKDocument document, string footer)
    {
        _document = document;
        _footer = footer;
        NewPage();
    }

    private SKCanvas Canvas => _canvas!;

    /// <summary>
    /// The embedded DejaVu Sans. Not SKTypeface.Default: the NoDependencies native build has no fontconfig and
    /// finds whatever file it stumbles on, or nothing, on a bare image.
    /// </summary>
    private static SKTypeface LoadTypeface()
    {
        using var resource = typeof(PdfLayout).Assembly.GetManifestResourceStream("UnlearnService.Evidence.Fonts.DejaVuSans.ttf")
            ?? throw new InvalidOperationException("The embedded font is missing from the assembly.");
        using var data = SKData.Create(resource);
        return SKTypeface.FromData(data) ?? throw new InvalidOperationException("The embedded font cannot be loaded.");
    }

    public void Title(string title, string subtitle)
    {
        Text(title, Margin, _y + 24, 24, Ink);
        _y += 34;
        foreach (var line in Wrap(subtitle, 10, Right - Margin))
        {
            Text(line, Margin, _y + 10, 10, Grey);
            _y += 14;
        }
        _y += 10;
    }

    public void Verdict(bool passed, string line)
    {
        const float height = 78;
        Ensure(height + 10);
        _paint.Style = SKPaintStyle.Fill;
        _paint.Color = passed ? PassColor : FailColor;
        Canvas.DrawRoundRect(new SKRect(Margin, _y, Right, _y + height), 6, 6, _paint);
        Text(passed ? "PASSED" : "FAILED", Margin + 18, _y + 44, 34, SKColors.White);
        Text(line, Margin + 18, _y + 64, 10, SKColors.White);
        _y += height + 14;
    }

    /// <summary>Starts a section; <paramref name="keepWithNext"/> is the height that must fit below its title, so a title never ends a page.</summary>
    public void Section(string title, float keepWithNext = 30)
    {
        Ensure(28 + keepWithNext);
        _y += 8;
        Text(title, Margin, _y + 14, 14, AfterColor);
        _y += 20;
        Line(_y);
        _y += 6;
    }

    public void Rows(IEnumerable<(string Label, string Value)> rows)
    {
        foreach (var (label, value) in rows)
        {
            // Digests and ids are long unbroken strings: a smaller size keeps a 64-character digest on one line.
            var size = value.Length >= 40 && !value.Contains(' ', StringComparison.Ordinal) ? 7.5f : 9.5f;
            var lines = Wrap(value, size, Right - Margin - LabelWidth);
            var labelLines = Wrap(label.Trim(), 9.5f, LabelWidth - 8);
            var height = Math.Max(lines.Count, labelLines.Count) * 13 + 2;
            Ensure(height);
            for (var i = 0; i < labelLines.Count; i++)
            {
                Text(labelLines[i], Margin + (label.StartsWith(' ') ? 10 : 0), _y + 10 + i * 13, 9.5f, Grey);
            }
            for (var i = 0; i < lines.Count; i++)
            {
                Text(lines[i], Margin + LabelWidth, _y + 10 + i * 13, size, Ink);
            }
            _y += height;
        }
    }

    public void MetricsTable(IReadOnlyList<MetricRow> metrics)
    {
        float[] columns = [Margin, Margin + 140, Margin + 215, Margin + 290];
        Ensure(20 + metrics.Count * 16); // a table is easier to read on one page
        TableRow(columns, ["Metric", "Before", "After", "Change"], 9.5f, Grey);
        Line(_y - 2);
        foreach (var m in metrics)
        {
            Ensure(16);
            TableRow(columns, [m.Name, ReportContent.Number(m.Before), ReportContent.Number(m.After), m.Change], 10, Ink);
        }
        _y += 6;
        foreach (var m in metrics)
        {
            var lines = Wrap($"{m.Name} ({m.DefinitionVersion}): {m.Definition}", 8, Right - Margin);
            Ensure(lines.Count * 11);
            foreach (var line in lines)
            {
                Text(line, Margin, _y + 8, 8, Grey);
                _y += 11;
            }
        }
        _y += 8;
    }

    public void Chart(IReadOnlyList<MetricRow> metrics)
    {
        const float barArea = 120, chartHeight = barArea + 60;
        Ensure(chartHeight);
        var top = _y + 14;
        var baseline = top + barArea;
        var groupWidth = Math.Min(90, (Right - Margin) / Math.Max(1, metrics.Count));
        var barWidth = groupWidth * 0.32f;
        _paint.Style = SKPaintStyle.Fill;
        for (var i = 0; i < metrics.Count; i++)
        {
            var m = metrics[i];
            var scale = CertificateReport.ChartScale(m);
            var x = Margin + i * groupWidth + groupWidth * 0.12f;
            foreach (var (value, dx, color) in new[] { (m.Before, 0f, BeforeColor), (m.After, barWidth + 4, AfterColor) })
            {
                var h = value is { } v && scale > 0 ? (float)(Math.Max(0, v) / scale) * barArea : 0;
                _paint.Color = color;
                Canvas.DrawRect(new SKRect(x + dx, baseline - h, x + dx + barWidth, baseline), _paint);
                Centered(ReportContent.Number(value), x + dx + barWidth / 2, baseline - h - 3, 7.5f, Ink);
            }
            Centered(m.Name, x + barWidth + 2, baseline + 12, 8.5f, Ink);
        }
        _paint.Color = Rule;
        Canvas.DrawLine(Margin, baseline, Right, baseline, _paint);
        var legendY = baseline + 26;
        _paint.Color = BeforeColor;
        Canvas.DrawRect(new SKRect(Margin, legendY - 8, Margin + 9, legendY + 1), _paint);
        Text("before", Margin + 13, legendY, 8.5f, Ink);
        _paint.Color = AfterColor;
        Canvas.DrawRect(new SKRect(Margin + 60, legendY - 8, Margin + 69, legendY + 1), _paint);
        Text("after", Margin + 73, legendY, 8.5f, Ink);
        Text(ReportContent.ChartNote, Margin + 120, legendY, 7.5f, Grey);
        _y = legendY + 12;
    }

    public void CriteriaTable(IReadOnlyList<CriterionRow> criteria)
    {
        float[] columns = [Margin, Margin + 190, Margin + 270, Margin + 350];
        Ensure(20);
        TableRow(columns, ["Criterion", "Observed", "Threshold", "Result"], 9.5f, Grey);
        Line(_y - 2);
        foreach (var c in criteria)
        {
            var description = Wrap(c.Description, 8, Right - Margin - 10);
            Ensure(16 + description.Count * 11);
            var rowY = _y;
            TableRow(columns, [c.Name, c.Observed, c.Rule, ""], 10, Ink);
            Text(c.Passed ? "passed" : "FAILED", columns[3], rowY + 11, 10, c.Passed ? PassColor : FailColor);
            foreach (var line in description)
            {
                Text(line, Margin + 10, _y + 7, 8, Grey);
                _y += 11;
            }
            _y += 3;
        }
    }

    public void Finish() => EndPage();

    public void Dispose() => _paint.Dispose();

    private void TableRow(float[] columns, string[] cells, float size, SKColor color)
    {
        for (var i = 0; i < cells.Length; i++)
        {
            Text(cells[i], columns[i], _y + 11, size, color);
        }
        _y += 16;
    }

    private void Ensure(float height)
    {
        if (_y + height > Bottom)
        {
            EndPage();
            NewPage();
        }
    }

    private void NewPage()
    {
        _page++;
        _canvas = _document.BeginPage(PageWidth, PageHeight);
        _y = Margin;
    }

    private void EndPage()
    {
        Line(PageHeight - 45);
        Text(_footer, Margin, PageHeight - 32, 7.5f, Grey);
        var page = $"page {_page}";
        using var font = Font(7.5f);
        Text(page, Right - Measure(font, page), PageHeight - 32, 7.5f, Grey);
        _document.EndPage();
        _canvas = null;
    }

    private void Line(float y)
    {
        _paint.Color = Rule;
        _paint.StrokeWidth = 0.7f;
        Canvas.DrawLine(Margin, y, Right, y, _paint);
    }

    private void Text(string text, float x, float baseline, float size, SKColor color)
    {
        using var font = Font(size);
        _paint.Color = color;
        _paint.Style = SKPaintStyle.Fill;
        Canvas.DrawText(text, x, baseline, font, _paint);
    }

    private void Centered(string text, float centre, float baseline, float size, SKColor color)
    {
        using var font = Font(size);
        Text(text, centre - Measure(font, text) / 2, baseline, size, color);
    }

    private static float Measure(SKFont font, string text)
    {
        // SkiaSharp 2.88's SKFont measures glyphs, not strings.
        var glyphs = new ushort[font.CountGlyphs(text)];
        font.GetGlyphs(text, glyphs);
        return font.MeasureText(glyphs);
    }

    private static SKFont Font(float size) => new(Typeface.Value, size) { Subpixel = true };

    /// <summary>Greedy word wrap; a word longer than the line (a digest) is cut where it overflows.</summary>
    private static List<string> Wrap(string text, float size, float width)
    {
        using var font = Font(size);
        var lines = new List<string>();
        var current = "";
        foreach (var word in text.Split(' '))
        {
            var candidate = current.Length == 0 ? word : current + " " + word;
            if (Measure(font, candidate) <= width)
            {
                current = candidate;
                continue;
            }
            if (current.Length > 0)
            {
                lines.Add(current);
            }
            current = word;
            while (Measure(font, current) > width && current.Length > 1)
            {
                var fit = current.Length - 1;
                while (fit > 1 && Measure(font, current[..fit]) > width)
                {
                    fit--;
                }
                lines.Add(current[..fit]);
                current = current[fit..];
            }
        }
        lines.Add(current);
        return lines;
    }
}
