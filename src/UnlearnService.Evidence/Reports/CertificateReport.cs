using System.Globalization;
using System.Net;
using System.Text;
using SkiaSharp;

namespace UnlearnService.Evidence;

/// <summary>
/// Human-readable reports of a verified certificate, for auditors: HTML (self-contained, no scripts) and PDF.
/// Render only certificates that <see cref="CertificateVerifier.Verify"/> accepted; the report shows the key
/// that signed it.
/// </summary>
public static class CertificateReport
{
    /// <summary>Renders the report as a self-contained HTML page (inline CSS and SVG chart, no scripts).</summary>
    /// <param name="certificate">The verified certificate.</param>
    /// <param name="signingKey">The key whose signature verified.</param>
    /// <returns>The HTML text.</returns>
    public static string RenderHtml(UnlearningCertificate certificate, VerificationKey signingKey)
    {
        var content = ReportContent.From(certificate, signingKey);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
            .Append(E(content.Title)).Append(" — ").Append(E(certificate.Request.Id)).Append("</title>\n<style>\n")
            .Append("body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:900px;margin:2em auto;color:#1d1d1f}")
            .Append("h1{margin-bottom:0}.sub{color:#666}.verdict{padding:1em 1.5em;border-radius:6px;color:#fff;margin:1.5em 0}")
            .Append(".verdict b{font-size:2.4em;display:block}.pass{background:#1b7f3b}.fail{background:#b3261e}")
            .Append("table{border-collapse:collapse;width:100%;margin-bottom:1em}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}")
            .Append("th{background:#f3f3f3}.mono{font-family:'DejaVu Sans Mono',monospace;font-size:.85em;word-break:break-all}")
            .Append(".ok{color:#1b7f3b;font-weight:bold}.ko{color:#b3261e;font-weight:bold}.note{color:#666;font-size:.85em}\n")
            .Append("</style>\n</head>\n<body>\n");
        html.Append("<h1>").Append(E(content.Title)).Append("</h1>\n<p class=\"sub\">").Append(E(content.Subtitle)).Append("</p>\n");
        html.Append("<div class=\"verdict ").Append(content.Passed ? "pass" : "fail").Append("\"><b>")
            .Append(content.Passed ? "PASSED" : "FAILED").Append("</b>").Append(E(content.VerdictLine)).Append("</div>\n");

        foreach (var section in content.Sections)
        {
            AppendRows(html, section.Title, section.Rows);
        }

        html.Append("<h2>Metrics</h2>\n<table>\n<tr><th>Metric</th><th>Before</th><th>After</th><th>Change</th><th>Definition</th></tr>\n");
        foreach (var m in content.Metrics)
        {
            html.Append("<tr><td>").Append(E(m.Name)).Append("</td><td>").Append(ReportContent.Number(m.Before))
                .Append("</td><td>").Append(ReportContent.Number(m.After)).Append("</td><td>").Append(E(m.Change))
                .Append("</td><td>").Append(E(m.Definition)).Append(" <span class=\"note\">(").Append(E(m.DefinitionVersion)).Append(")</span></td></tr>\n");
        }
        html.Append("</table>\n");
        AppendSvgChart(html, content.Metrics);

        html.Append("<h2>Verdict criteria</h2>\n<table>\n<tr><th>Criterion</th><th>Observed</th><th>Threshold</th><th>Result</th></tr>\n");
        foreach (var c in content.Criteria)
        {
            html.Append("<tr><td>").Append(E(c.Name)).Append("<br><span class=\"note\">").Append(E(c.Description)).Append("</span></td><td>")
                .Append(E(c.Observed)).Append("</td><td>").Append(E(c.Rule)).Append("</td><td class=\"").Append(c.Passed ? "ok" : "ko")
                .Append("\">").Append(c.Passed ? "passed" : "failed").Append("</td></tr>\n");
        }
        html.Append("</table>\n");
        AppendRows(html, "Signature", content.Signature);
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>
    /// Renders the report as a PDF (A4): title, verdict, request, lineage, forgotten samples, method, a metrics
    /// table and a before/after bar chart, the verdict criteria, and the signing key. Text uses the embedded
    /// DejaVu Sans, so it renders on hosts without fonts.
    /// </summary>
    /// <param name="certificate">The verified certificate.</param>
    /// <param name="signingKey">The key whose signature verified.</param>
    /// <returns>The PDF bytes.</returns>
    public static byte[] RenderPdf(UnlearningCertificate certificate, VerificationKey signingKey)
    {
        var content = ReportContent.From(certificate, signingKey);
        using var stream = new MemoryStream();
        var metadata = new SKDocumentPdfMetadata
        {
            Title = $"{content.Title} {certificate.Request.Id}",
            Subject = content.Subtitle,
            Creator = "UnlearnService",
            Producer = "UnlearnService.Evidence",
            Creation = certificate.IssuedAt.UtcDateTime,
            Modified = certificate.IssuedAt.UtcDateTime,
        };
        using (var document = SKDocument.CreatePdf(stream, metadata))
        using (var layout = new PdfLayout(document, $"{content.Title} · request {certificate.Request.Id}"))
        {
            layout.Title(content.Title, content.Subtitle);
            layout.Verdict(content.Passed, content.VerdictLine);
            foreach (var section in content.Sections)
            {
                layout.Section(section.Title);
                layout.Rows(section.Rows);
            }
            layout.Section("Metrics", 20 + content.Metrics.Count * 16);
            layout.MetricsTable(content.Metrics);
            layout.Chart(content.Metrics);
            layout.Section("Verdict criteria", 50);
            layout.CriteriaTable(content.Criteria);
            layout.Section("Signature");
            layout.Rows(content.Signature);
            layout.Finish();
            document.Close();
        }
        return stream.ToArray();
    }

    private static void AppendRows(StringBuilder html, string title, IEnumerable<(string Label, string Value)> rows)
    {
        html.Append("<h2>").Append(E(title)).Append("</h2>\n<table>\n");
        foreach (var (label, value) in rows)
        {
            var mono = value.Length >= 40 && !value.Contains(' ', StringComparison.Ordinal);
            html.Append("<tr><th style=\"width:30%\">").Append(E(label.Trim())).Append("</th><td")
                .Append(mono ? " class=\"mono\"" : "").Append('>').Append(E(value)).Append("</td></tr>\n");
        }
        html.Append("</table>\n");
    }

    private static void AppendSvgChart(StringBuilder html, IReadOnlyList<MetricRow> metrics)
    {
        const int groupWidth = 110, height = 200, top = 20, barHeight = 140;
        var width = Math.Max(300, metrics.Count * groupWidth + 20);
        html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height + 20}\" role=\"img\" aria-label=\"Metrics before and after\" font-size=\"11\">\n");
        for (var i = 0; i < metrics.Count; i++)
        {
            var m = metrics[i];
            var scale = ChartScale(m);
            var x = 20 + i * groupWidth;
            foreach (var (value, dx, color) in new[] { (m.Before, 0, "#8aa4c8"), (m.After, 40, "#1f4e89") })
            {
                var h = value is { } v && scale > 0 ? Math.Max(0, v) / scale * barHeight : 0;
                var y = top + barHeight - h;
                html.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x + dx}\" y=\"{y:0.#}\" width=\"36\" height=\"{h:0.#}\" fill=\"{color}\"/>")
                    .Append(CultureInfo.InvariantCulture, $"<text x=\"{x + dx + 18}\" y=\"{y - 4:0.#}\" text-anchor=\"middle\">{ReportContent.Number(value)}</text>\n");
            }
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + 38}\" y=\"{top + barHeight + 16}\" text-anchor=\"middle\">{E(m.Name)}</text>\n");
        }
        html.Append(CultureInfo.InvariantCulture, $"<rect x=\"20\" y=\"{height}\" width=\"10\" height=\"10\" fill=\"#8aa4c8\"/><text x=\"34\" y=\"{height + 9}\">before</text>")
            .Append(CultureInfo.InvariantCulture, $"<rect x=\"90\" y=\"{height}\" width=\"10\" height=\"10\" fill=\"#1f4e89\"/><text x=\"104\" y=\"{height + 9}\">after</text>\n</svg>\n")
            .Append("<p class=\"note\">").Append(E(ReportContent.ChartNote)).Append("</p>\n");
    }

    internal static double ChartScale(MetricRow m) => Math.Max(Math.Max(m.Before ?? 0, m.After ?? 0), 0);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
