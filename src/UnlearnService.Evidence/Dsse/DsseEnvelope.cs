using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace UnlearnService.Evidence;

/// <summary>One signature of a DSSE envelope.</summary>
/// <param name="KeyId">The key id hint (empty when unset); never trusted on its own.</param>
/// <param name="Sig">The signature bytes (decoded from base64).</param>
public sealed record DsseSignature(string KeyId, byte[] Sig);

/// <summary>
/// A DSSE v1 JSON envelope (https://github.com/secure-systems-lab/dsse):
/// <c>{"payload": b64, "payloadType": "...", "signatures": [{"keyid": "...", "sig": b64}]}</c>.
/// </summary>
public sealed class DsseEnvelope
{
    /// <summary>Creates an envelope.</summary>
    /// <param name="payload">The serialized body.</param>
    /// <param name="payloadType">The payload type.</param>
    /// <param name="signatures">The signatures.</param>
    public DsseEnvelope(byte[] payload, string payloadType, IReadOnlyList<DsseSignature> signatures)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(payloadType);
        ArgumentNullException.ThrowIfNull(signatures);
        Payload = payload;
        PayloadType = payloadType;
        Signatures = signatures;
    }

    /// <summary>The serialized body.</summary>
    public byte[] Payload { get; }

    /// <summary>The payload type, authenticated by the signature through PAE.</summary>
    public string PayloadType { get; }

    /// <summary>The signatures.</summary>
    public IReadOnlyList<DsseSignature> Signatures { get; }

    /// <summary>Writes the envelope JSON (standard base64 with padding; no whitespace).</summary>
    /// <returns>The JSON text.</returns>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        // The relaxed encoder keeps '+' and '/' of base64 and media types literal, as other DSSE tools write them.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("payload", Convert.ToBase64String(Payload));
            writer.WriteString("payloadType", PayloadType);
            writer.WriteStartArray("signatures");
            foreach (var signature in Signatures)
            {
                writer.WriteStartObject();
                writer.WriteString("keyid", signature.KeyId);
                writer.WriteString("sig", Convert.ToBase64String(signature.Sig));
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>
    /// Parses an envelope strictly. Stricter than the DSSE envelope spec, which asks consumers to ignore unknown
    /// fields: evidence must have one reading, so unknown fields, duplicate keys, wrong types, missing required
    /// fields and invalid or non-canonical base64 are all rejected. An unset <c>keyid</c> reads as empty, as the
    /// spec says. Base64 may use the standard or the URL-safe alphabet (the spec requires accepting both).
    /// </summary>
    /// <param name="json">The envelope JSON.</param>
    /// <returns>The envelope.</returns>
    /// <exception cref="EvidenceFormatException">The envelope breaks a rule; <see cref="EvidenceFormatException.Error"/> says which.</exception>
    public static DsseEnvelope Parse(string json)
    {
        using var document = EvidenceJson.ParseStrict(json);
        var root = document.RootElement;
        RequireObject(root, "$");
        CheckMembers(root, "$", ["payload", "payloadType", "signatures"], ["payload", "payloadType", "signatures"]);

        var payload = DecodeBase64(RequireString(root, "payload", "$"), "$.payload");
        var payloadType = RequireString(root, "payloadType", "$");
        var signaturesElement = root.GetProperty("signatures");
        if (signaturesElement.ValueKind != JsonValueKind.Array)
        {
            throw new EvidenceFormatException(EvidenceError.WrongType, "$.signatures must be an array.");
        }
        var signatures = new List<DsseSignature>();
        var index = 0;
        foreach (var element in signaturesElement.EnumerateArray())
        {
            var path = $"$.signatures[{index++}]";
            RequireObject(element, path);
            CheckMembers(element, path, ["keyid", "sig"], ["sig"]);
            var keyId = element.TryGetProperty("keyid", out _) ? RequireString(element, "keyid", path) : "";
            var sig = DecodeBase64(RequireString(element, "sig", path), path + ".sig");
            signatures.Add(new DsseSignature(keyId, sig));
        }
        if (signatures.Count == 0)
        {
            throw new EvidenceFormatException(EvidenceError.NoSignatures, "The envelope has no signatures.");
        }
        return new DsseEnvelope(payload, payloadType, signatures);
    }

    private static void RequireObject(JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new EvidenceFormatException(EvidenceError.WrongType, $"{path} must be an object.");
        }
    }

    private static void CheckMembers(JsonElement element, string path, string[] allowed, string[] required)
    {
        foreach (var member in element.EnumerateObject())
        {
            if (!allowed.Contains(member.Name, StringComparer.Ordinal))
            {
                throw new EvidenceFormatException(EvidenceError.UnknownField, $"Unknown member {path}.{member.Name}.");
            }
        }
        foreach (var name in required)
        {
            if (!element.TryGetProperty(name, out _))
            {
                throw new EvidenceFormatException(EvidenceError.MissingField, $"Missing member {path}.{name}.");
            }
        }
    }

    private static string RequireString(JsonElement element, string name, string path)
    {
        var value = element.GetProperty(name);
        if (value.ValueKind != JsonValueKind.String)
        {
            throw new EvidenceFormatException(EvidenceError.WrongType, $"{path}.{name} must be a string.");
        }
        return value.GetString()!;
    }

    /// <summary>
    /// Decodes standard or URL-safe base64, padded or not, but only in its canonical form (no whitespace, no mixed
    /// alphabets, zero trailing bits): otherwise one signature could be written many ways.
    /// </summary>
    internal static byte[] DecodeBase64(string text, string path)
    {
        var urlSafe = text.AsSpan().IndexOfAny('-', '_') >= 0;
        var standard = text.AsSpan().IndexOfAny('+', '/') >= 0;
        if (urlSafe && standard)
        {
            throw new EvidenceFormatException(EvidenceError.InvalidBase64, $"{path} mixes the standard and URL-safe base64 alphabets.");
        }
        var normalized = urlSafe ? text.Replace('-', '+').Replace('_', '/') : text;
        if (!normalized.Contains('=', StringComparison.Ordinal) && normalized.Length % 4 != 0)
        {
            normalized += new string('=', 4 - normalized.Length % 4);
        }
        var buffer = new byte[normalized.Length / 4 * 3];
        if (normalized.Length % 4 != 0
            || normalized.AsSpan().IndexOfAnyExcept("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") >= 0
            || !Convert.TryFromBase64String(normalized, buffer, out var written)
            || Convert.ToBase64String(buffer.AsSpan(0, written)) != normalized)
        {
            throw new EvidenceFormatException(EvidenceError.InvalidBase64, $"{path} is not valid base64.");
        }
        return buffer[..written];
    }
}
