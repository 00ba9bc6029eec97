using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using UnlearnService.Evidence;
using UnlearnService.Hosting;

namespace UnlearnService.Features.Keys;

/// <summary>Section "Evidence": the signing keys and the audit checkpoints.</summary>
internal sealed class EvidenceOptions
{
    public const string Section = "Evidence";

    /// <summary>The active signing key (PKCS#8 PEM, P-256). Default: signing-key.pem in the data directory.</summary>
    public string? KeyFile { get; set; }

    /// <summary>
    /// Create <see cref="KeyFile"/> with a new key when it is missing (the embedded default). Set false where
    /// several processes must share one key (mount it from a secret), so that a missing mount fails loudly
    /// instead of each process signing with a key of its own.
    /// </summary>
    public bool CreateKeyIfMissing { get; set; } = true;

    /// <summary>Earlier keys (PEM, public or private), kept so that evidence signed before a rotation still verifies.</summary>
    public List<string> RetiredKeyFiles { get; set; } = [];

    /// <summary>Minutes between signed audit checkpoints: 1 to 59, or a multiple of 60 up to 1440.</summary>
    [Range(1, 1440, ErrorMessage = "Evidence:CheckpointIntervalMinutes must be between 1 and 1440.")]
    public int CheckpointIntervalMinutes { get; set; } = 60;

    public string ResolveKeyFile(ServiceOptions service) => KeyFile ?? Path.Combine(service.DataDirectory, "signing-key.pem");

    /// <summary>The recurring job's cron expression.</summary>
    public string CheckpointCron() => CheckpointIntervalMinutes < 60
        ? string.Create(CultureInfo.InvariantCulture, $"*/{CheckpointIntervalMinutes} * * * *")
        : string.Create(CultureInfo.InvariantCulture, $"0 */{CheckpointIntervalMinutes / 60} * * *");
}

/// <summary>Reads every key at start-up, so that an unreadable key stops the process with a message naming the setting.</summary>
internal sealed class EvidenceOptionsValidator(IOptions<ServiceOptions> service) : IValidateOptions<EvidenceOptions>
{
    public ValidateOptionsResult Validate(string? name, EvidenceOptions options)
    {
        var failures = new List<string>();
        if (options.CheckpointIntervalMinutes >= 60 && options.CheckpointIntervalMinutes % 60 != 0)
            failures.Add("Evidence:CheckpointIntervalMinutes must be below 60 or a multiple of 60.");
        var keyFile = options.ResolveKeyFile(service.Value);
        if (File.Exists(keyFile))
        {
            if (Problem(() => { using var _ = SigningKey.FromPem(File.ReadAllText(keyFile)); }) is { } problem)
                failures.Add($"Evidence:KeyFile '{keyFile}' is not an unencrypted PKCS#8 P-256 private key: {problem}");
        }
        else if (!options.CreateKeyIfMissing)
        {
            failures.Add($"Evidence:KeyFile '{keyFile}' does not exist (and Evidence:CreateKeyIfMissing is false).");
        }
        for (var i = 0; i < options.RetiredKeyFiles.Count; i++)
        {
            var path = options.RetiredKeyFiles[i];
            if (!File.Exists(path))
                failures.Add($"Evidence:RetiredKeyFiles:{i} '{path}' does not exist.");
            else if (Problem(() => KeyRing.FromPem(SigningKeyPemForCheck, [File.ReadAllText(path)]).Dispose()) is { } problem)
                failures.Add($"Evidence:RetiredKeyFiles:{i} '{path}' is not a P-256 PUBLIC KEY or PRIVATE KEY PEM: {problem}");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    // KeyRing reads retired keys in either form; a throwaway active key lets the check use exactly that reader.
    static readonly string SigningKeyPemForCheck = CreatePem();

    static string CreatePem()
    {
        using var key = SigningKey.Generate();
        return key.ExportPkcs8Pem();
    }

    static string? Problem(Action read)
    {
        try
        {
            read();
            return null;
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or FormatException)
        {
            return e.Message;
        }
    }
}
