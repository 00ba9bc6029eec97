using System.Security.Cryptography;

namespace UnlearnService.Evidence;

/// <summary>PEM reading with an explicit label, so a public key is never taken for a private one or vice versa.</summary>
internal static class Pem
{
    public static byte[] ReadSingle(string pem, string label)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var blocks = ReadAll(pem);
        if (blocks.Count != 1 || blocks[0].Label != label)
        {
            throw new CryptographicException($"Expected exactly one PEM block labelled '{label}', found {Describe(blocks)}.");
        }
        return blocks[0].Der;
    }

    public static List<(string Label, byte[] Der)> ReadAll(string pem)
    {
        var blocks = new List<(string, byte[])>();
        var rest = pem.AsMemory();
        while (PemEncoding.TryFind(rest.Span, out var fields))
        {
            var span = rest.Span;
            var label = span[fields.Label].ToString();
            var der = Convert.FromBase64String(span[fields.Base64Data].ToString());
            blocks.Add((label, der));
            rest = rest[fields.Location.End..];
        }
        return blocks;
    }

    private static string Describe(List<(string Label, byte[] Der)> blocks) =>
        blocks.Count == 0 ? "none" : string.Join(", ", blocks.Select(b => $"'{b.Label}'"));
}

/// <summary>Base64url (RFC 4648 §5) without padding, as JOSE uses it.</summary>
internal static class Base64Url
{
    public static string Encode(ReadOnlySpan<byte> data) => System.Buffers.Text.Base64Url.EncodeToString(data);

    /// <summary>Decodes unpadded base64url; returns null for anything else, including non-canonical trailing bits.</summary>
    public static byte[]? DecodeStrict(string text)
    {
        if (text.Length == 0 || text.Contains('=', StringComparison.Ordinal) || !System.Buffers.Text.Base64Url.IsValid(text))
        {
            return null;
        }
        var bytes = System.Buffers.Text.Base64Url.DecodeFromChars(text);
        return Encode(bytes) == text ? bytes : null;
    }
}
