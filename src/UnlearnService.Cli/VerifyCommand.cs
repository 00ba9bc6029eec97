using System.CommandLine;
using System.Security.Cryptography;
using UnlearnService.Evidence;

namespace UnlearnService.Cli;

/// <summary>
/// `unlearn verify` and `unlearn report`: check a certificate offline with nothing but trusted public keys (PEM
/// files, or the JWK set from GET /v1/keys/jwks), and render its report. Exit codes: 0 valid, 1 invalid, 2 unusable
/// input (a key or certificate file that cannot be read).
/// </summary>
internal static class VerifyCommand
{
    public const int Valid = 0;
    public const int Invalid = 1;
    public const int Unusable = 2;

    static Option<string[]> KeyOption() => new("--key")
    {
        Description = "Trusted public key(s): a PEM file with one or more PUBLIC KEY blocks, or a JWK set (JSON). Repeatable.",
        Required = true,
        AllowMultipleArgumentsPerToken = false,
    };

    static Argument<string> CertificateArgument() => new("certificate") { Description = "The certificate: the DSSE envelope JSON from GET /v1/certificates/{requestId}." };

    public static Command CreateVerify()
    {
        var key = KeyOption();
        var certificate = CertificateArgument();
        var command = new Command("verify", "Verify an unlearning certificate offline: signature, statement, and internal consistency.") { key, certificate };
        command.SetAction(result => Run(result.GetValue(key)!, result.GetValue(certificate)!, verified =>
        {
            var c = verified.Certificate!;
            Console.WriteLine($"valid: {verified.Message}");
            Console.WriteLine($"  model {c.Lineage.ModelId}: version {c.Lineage.BaseVersionId} (sha256 {c.Lineage.BaseSha256})");
            Console.WriteLine($"    -> version {c.Lineage.NewVersionId} (sha256 {c.Lineage.NewSha256})");
            Console.WriteLine($"  {c.ForgottenSamples.Count} samples forgotten with {c.Method}; verdict {(c.Verdict.Passed ? "passed" : "FAILED")}");
            Console.WriteLine($"  audit log at issue: {c.AuditCheckpoint.TreeSize} events, root {c.AuditCheckpoint.RootHash}");
            return Valid;
        }));
        return command;
    }

    public static Command CreateReport()
    {
        var key = KeyOption();
        var certificate = CertificateArgument();
        var output = new Option<string>("--out") { Description = "The report to write: .pdf or .html.", Required = true };
        var command = new Command("report", "Verify a certificate, then write its human-readable report (PDF or HTML).") { key, output, certificate };
        command.SetAction(result => Run(result.GetValue(key)!, result.GetValue(certificate)!, verified =>
        {
            var path = result.GetValue(output)!;
            if (path.EndsWith(".html", StringComparison.OrdinalIgnoreCase))
                File.WriteAllText(path, CertificateReport.RenderHtml(verified.Certificate!, verified.Key!));
            else
                File.WriteAllBytes(path, CertificateReport.RenderPdf(verified.Certificate!, verified.Key!));
            Console.WriteLine($"valid: {verified.Message}");
            Console.WriteLine($"Wrote {path}");
            return Valid;
        }));
        return command;
    }

    static int Run(string[] keyFiles, string certificateFile, Func<CertificateVerification, int> onValid)
    {
        KeySet keys;
        string envelope;
        try
        {
            keys = new KeySet(keyFiles.SelectMany(ReadKeys));
            envelope = File.ReadAllText(certificateFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or EvidenceFormatException or FormatException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return Unusable;
        }
        var verified = CertificateVerifier.Verify(envelope, keys);
        if (!verified.IsValid)
        {
            Console.WriteLine($"invalid: {verified.Error}: {verified.Message}");
            return Invalid;
        }
        return onValid(verified);
    }

    /// <summary>A JWK set when the file is JSON, PEM public keys otherwise.</summary>
    static IEnumerable<VerificationKey> ReadKeys(string path)
    {
        var text = File.ReadAllText(path);
        return text.TrimStart().StartsWith('{') ? KeySet.FromJwks(text) : KeySet.FromPem(text);
    }
}
