using System.Text;
using UnlearnService.Evidence;

namespace UnlearnService.Evidence.Tests;

public sealed class CertificateReportTests
{
    [Fact]
    public void RenderPdf_PassedCertificate_PdfWithEverySectionReadable()
    {
        using var key = SigningKey.Generate();
        var certificate = TestData.Certificate();

        var pdf = CertificateReport.RenderPdf(certificate, key.PublicKey);
        var text = PdfText.Extract(pdf);

        Assert.StartsWith("%PDF-", Encoding.ASCII.GetString(pdf, 0, 8));
        Assert.EndsWith("%%EOF", Encoding.ASCII.GetString(pdf[^16..]).TrimEnd());
        Assert.InRange(PdfText.PageCount(pdf), 1, 3);
        Assert.Contains("/BaseFont /DejaVuSans", Encoding.Latin1.GetString(pdf));
        foreach (var expected in new[]
        {
            "Unlearning certificate", "PASSED", "dr-7f3a", "TICKET-1042", "GDPR Art. 17(1)(b)", "2025-03-01 09:30:00 UTC",
            "v1 → v2", TestData.BaseSha, TestData.NewSha, "run-19", certificate.ForgottenSamples.MerkleRoot,
            "Metrics", "MIA-efficacy", "98.7", "+17.5", "before", "after",
            "Verdict criteria", "membership", "≥ 0.05", "≤ 2", "passed",
            key.KeyId, key.PublicKey.JwkThumbprint,
        })
        {
            Assert.Contains(expected, text);
        }
        Assert.DoesNotContain("FAILED", text);
    }

    [Fact]
    public void RenderPdf_FailedCertificate_SaysFailed()
    {
        using var key = SigningKey.Generate();

        var text = PdfText.Extract(CertificateReport.RenderPdf(TestData.Certificate(passed: false), key.PublicKey));

        Assert.Contains("FAILED", text);
        Assert.Contains("0.012", text);
        Assert.DoesNotContain("PASSED", text);
    }

    [Fact]
    public void RenderPdf_LongReason_WrapsWithinThePage()
    {
        using var key = SigningKey.Generate();
        var certificate = TestData.Certificate();
        var reason = string.Join(' ', Enumerable.Repeat("withdrawn-consent", 40));
        var longer = certificate with { Request = certificate.Request with { Reason = reason } };

        var text = PdfText.Extract(CertificateReport.RenderPdf(longer, key.PublicKey));

        var reasonLines = text.Split('\n').Where(l => l.Contains("withdrawn-consent", StringComparison.Ordinal)).ToList();
        Assert.True(reasonLines.Count > 3, $"{reasonLines.Count} lines");
        Assert.Equal(reason, string.Join(' ', reasonLines));
    }

    [Fact]
    public void RenderHtml_Certificate_ShowsDetailsLineageMetricsCriteriaAndKey()
    {
        using var key = SigningKey.Generate();
        var certificate = TestData.Certificate();

        var html = CertificateReport.RenderHtml(certificate, key.PublicKey);

        foreach (var expected in new[]
        {
            "<title>Unlearning certificate — dr-7f3a</title>", "class=\"verdict pass\"><b>PASSED</b>", "TICKET-1042",
            "v1 → v2", TestData.BaseSha, TestData.NewSha, "<td>MIA-efficacy</td><td>3.5</td><td>21</td><td>+17.5</td>",
            "<svg", "≥ 0.05", key.KeyId, key.PublicKey.JwkThumbprint, "128 events",
        })
        {
            Assert.Contains(expected, html);
        }
        Assert.DoesNotContain("<script", html);
    }

    [Fact]
    public void RenderHtml_HostileText_IsEscaped()
    {
        using var key = SigningKey.Generate();
        var certificate = TestData.Certificate();
        var hostile = certificate with { Request = certificate.Request with { Reason = "<script>alert('x')</script>" } };

        var html = CertificateReport.RenderHtml(hostile, key.PublicKey);

        Assert.DoesNotContain("<script>", html);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", html);
    }

    [Fact]
    public void RenderHtml_FailedCertificate_FailBanner()
    {
        using var key = SigningKey.Generate();

        var html = CertificateReport.RenderHtml(TestData.Certificate(passed: false), key.PublicKey);

        Assert.Contains("class=\"verdict fail\"><b>FAILED</b>", html);
        Assert.Contains("class=\"ko\">failed", html);
    }
}
