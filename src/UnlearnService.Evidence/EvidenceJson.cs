using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace UnlearnService.Evidence;

/// <summary>
/// The JSON rules every evidence document follows: one strict parser (no duplicate keys, no unknown or missing
/// members, no comments or trailing commas) and one canonical writer (RFC 8785, the JSON Canonicalization
/// Scheme), so that a document has exactly one byte form to hash or sign.
/// </summary>
public static class EvidenceJson
{
    /// <summary>
    /// Serializer options for evidence records: camelCase names, enums as camelCase strings (never numbers),
    /// unknown members rejected, required constructor parameters and non-nullable annotations enforced.
    /// </summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    /// <summary>Reader settings shared by the strict parser: plain RFC 8259 JSON only.</summary>
    public static JsonReaderOptions ReaderOptions { get; } = new()
    {
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
        MaxDepth = 64,
    };

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DictionaryKeyPolicy = null,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            AllowDuplicateProperties = false,
            NumberHandling = JsonNumberHandling.Strict,
            // Evidence is read by people too: keep non-ASCII text readable; the canonical writer escapes what RFC 8785 asks.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            MaxDepth = 64,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>
    /// Finds the first object member name that occurs twice in the same object, anywhere in the document.
    /// System.Text.Json's DOM and older serializers silently keep the last duplicate, which lets two parsers
    /// read one signed document differently; evidence must be unambiguous, so duplicates are rejected.
    /// </summary>
    /// <param name="utf8Json">The document.</param>
    /// <param name="duplicate">The path of the duplicate member (for example <c>$.signatures[0].sig</c>) when found.</param>
    /// <returns><c>true</c> when a duplicate exists.</returns>
    /// <exception cref="JsonException">The document is not well-formed JSON.</exception>
    public static bool TryFindDuplicateKey(ReadOnlySpan<byte> utf8Json, out string? duplicate)
    {
        var reader = new Utf8JsonReader(utf8Json, ReaderOptions);
        // One frame per open container: the names seen so far (objects only) and the path to it.
        var frames = new Stack<(HashSet<string>? Names, string Path, int Index)>();
        string? pendingName = null;
        var rootPath = "$";

        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    {
                        var name = reader.GetString()!;
                        var frame = frames.Peek();
                        if (!frame.Names!.Add(name))
                        {
                            duplicate = frame.Path + "." + name;
                            return true;
                        }
                        pendingName = name;
                        break;
                    }
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    {
                        var path = ChildPath(frames, ref pendingName, rootPath);
                        frames.Push((reader.TokenType == JsonTokenType.StartObject ? new HashSet<string>(StringComparer.Ordinal) : null, path, 0));
                        break;
                    }
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    frames.Pop();
                    AdvanceArrayIndex(frames);
                    break;
                default:
                    // A scalar value: consumes the pending member name or an array slot.
                    if (pendingName is null)
                    {
                        AdvanceArrayIndex(frames);
                    }
                    pendingName = null;
                    break;
            }
        }
        duplicate = null;
        return false;

        static string ChildPath(Stack<(HashSet<string>? Names, string Path, int Index)> frames, ref string? pendingName, string root)
        {
            if (frames.Count == 0)
            {
                return root;
            }
            var parent = frames.Peek();
            if (pendingName is not null)
            {
                var path = parent.Path + "." + pendingName;
                pendingName = null;
                return path;
            }
            return parent.Path + "[" + parent.Index.ToString(CultureInfo.InvariantCulture) + "]";
        }

        static void AdvanceArrayIndex(Stack<(HashSet<string>? Names, string Path, int Index)> frames)
        {
            if (frames.Count > 0 && frames.Peek().Names is null)
            {
                var top = frames.Pop();
                frames.Push(top with { Index = top.Index + 1 });
            }
        }
    }

    /// <summary>
    /// Parses a document strictly: well-formed, no duplicate keys, no comments or trailing commas.
    /// </summary>
    /// <param name="json">The document.</param>
    /// <returns>The parsed document; the caller disposes it.</returns>
    /// <exception cref="EvidenceFormatException">The document breaks one of the rules; the message says which.</exception>
    public static JsonDocument ParseStrict(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return ParseStrict(Encoding.UTF8.GetBytes(json));
    }

    /// <inheritdoc cref="ParseStrict(string)"/>
    public static JsonDocument ParseStrict(ReadOnlyMemory<byte> utf8Json)
    {
        try
        {
            if (TryFindDuplicateKey(utf8Json.Span, out var duplicate))
            {
                throw new EvidenceFormatException(EvidenceError.DuplicateKey, $"Duplicate JSON member {duplicate}.");
            }
            return JsonDocument.Parse(utf8Json, new JsonDocumentOptions
            {
                CommentHandling = JsonCommentHandling.Disallow,
                AllowTrailingCommas = false,
                MaxDepth = 64,
            });
        }
        catch (JsonException e)
        {
            throw new EvidenceFormatException(EvidenceError.MalformedJson, $"Not well-formed JSON: {e.Message}", e);
        }
    }

    /// <summary>
    /// Deserializes a record strictly: the duplicate-key check first, then <see cref="Options"/>, which rejects
    /// unknown members, missing required members, nulls where the record has none, and wrong types.
    /// </summary>
    /// <typeparam name="T">The record type.</typeparam>
    /// <param name="utf8Json">The document.</param>
    /// <returns>The record.</returns>
    /// <exception cref="EvidenceFormatException">The document does not match the record; the message says where.</exception>
    public static T Deserialize<T>(ReadOnlySpan<byte> utf8Json)
    {
        bool hasDuplicate;
        string? duplicate;
        try
        {
            hasDuplicate = TryFindDuplicateKey(utf8Json, out duplicate);
        }
        catch (JsonException e)
        {
            throw new EvidenceFormatException(EvidenceError.MalformedJson, $"Not well-formed JSON: {e.Message}", e);
        }
        if (hasDuplicate)
        {
            throw new EvidenceFormatException(EvidenceError.DuplicateKey, $"Duplicate JSON member {duplicate}.");
        }
        try
        {
            return JsonSerializer.Deserialize<T>(utf8Json, Options)
                ?? throw new EvidenceFormatException(EvidenceError.WrongType, "The document is null.");
        }
        catch (JsonException e)
        {
            throw new EvidenceFormatException(EvidenceError.SchemaViolation, $"Does not match {typeof(T).Name}: {e.Message}", e);
        }
    }

    /// <summary>Serializes a record with <see cref="Options"/> and canonicalizes the result (RFC 8785).</summary>
    /// <typeparam name="T">The record type.</typeparam>
    /// <param name="value">The record.</param>
    /// <returns>The canonical UTF-8 bytes.</returns>
    public static byte[] SerializeCanonical<T>(T value)
    {
        var element = JsonSerializer.SerializeToElement(value, Options);
        return Canonicalize(element);
    }

    /// <summary>
    /// Writes a JSON value in the RFC 8785 canonical form: members sorted by their UTF-16 code units, no
    /// whitespace, numbers in the ECMAScript shortest round-trip form, strings with the minimal escapes.
    /// Numbers are IEEE 754 doubles, as in the RFC: integers beyond 2^53 lose precision, so keep such values
    /// in strings.
    /// </summary>
    /// <param name="value">The value.</param>
    /// <returns>The canonical UTF-8 bytes.</returns>
    /// <exception cref="EvidenceFormatException">A number is not finite as a double.</exception>
    public static byte[] Canonicalize(JsonElement value)
    {
        var builder = new StringBuilder();
        WriteCanonical(value, builder);
        try
        {
            return StrictUtf8.GetBytes(builder.ToString());
        }
        catch (EncoderFallbackException e)
        {
            // RFC 8785 §3.2.2.2: a lone surrogate has no canonical form.
            throw new EvidenceFormatException(EvidenceError.MalformedJson, "A string holds a lone UTF-16 surrogate.", e);
        }
    }

    /// <summary>Parses <paramref name="json"/> strictly and returns its canonical form (RFC 8785).</summary>
    /// <param name="json">The document.</param>
    /// <returns>The canonical UTF-8 bytes.</returns>
    /// <exception cref="EvidenceFormatException">The document is not strict JSON.</exception>
    public static byte[] Canonicalize(string json)
    {
        using var document = ParseStrict(json);
        return Canonicalize(document.RootElement);
    }

    private static void WriteCanonical(JsonElement value, StringBuilder output)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                {
                    var members = value.EnumerateObject().Select(p => (p.Name, p.Value)).ToList();
                    // RFC 8785 §3.2.3: sort by the UTF-16 code units of the names, which is what ordinal comparison does.
                    members.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
                    output.Append('{');
                    for (var i = 0; i < members.Count; i++)
                    {
                        if (i > 0)
                        {
                            output.Append(',');
                        }
                        WriteString(members[i].Name, output);
                        output.Append(':');
                        WriteCanonical(members[i].Value, output);
                    }
                    output.Append('}');
                    break;
                }
            case JsonValueKind.Array:
                {
                    output.Append('[');
                    var first = true;
                    foreach (var item in value.EnumerateArray())
                    {
                        if (!first)
                        {
                            output.Append(',');
                        }
                        first = false;
                        WriteCanonical(item, output);
                    }
                    output.Append(']');
                    break;
                }
            case JsonValueKind.String:
                WriteString(value.GetString()!, output);
                break;
            case JsonValueKind.Number:
                if (!value.TryGetDouble(out var number) || !double.IsFinite(number))
                {
                    throw new EvidenceFormatException(EvidenceError.WrongType, $"The number {value.GetRawText()} is not a finite double.");
                }
                output.Append(FormatNumber(number));
                break;
            case JsonValueKind.True:
                output.Append("true");
                break;
            case JsonValueKind.False:
                output.Append("false");
                break;
            case JsonValueKind.Null:
                output.Append("null");
                break;
            default:
                throw new EvidenceFormatException(EvidenceError.MalformedJson, $"Unexpected JSON value kind {value.ValueKind}.");
        }
    }

    private static void WriteString(string value, StringBuilder output)
    {
        output.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': output.Append("\\\""); break;
                case '\\': output.Append("\\\\"); break;
                case '\b': output.Append("\\b"); break;
                case '\f': output.Append("\\f"); break;
                case '\n': output.Append("\\n"); break;
                case '\r': output.Append("\\r"); break;
                case '\t': output.Append("\\t"); break;
                default:
                    if (c < 0x20)
                    {
                        output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        output.Append(c);
                    }
                    break;
            }
        }
        output.Append('"');
    }

    /// <summary>
    /// Formats a double as ECMAScript's Number.prototype.toString does (RFC 8785 §3.2.2.3): the shortest digits
    /// that round-trip, then plain notation for exponents in [-6, 21) and exponent notation outside it.
    /// </summary>
    internal static string FormatNumber(double value)
    {
        if (value == 0)
        {
            return "0"; // -0 as well
        }
        // .NET's "R" already yields the shortest round-trip digits; only the layout differs from ECMAScript.
        var shortest = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        // Split .NET's form ("1.5E-07", "123.456") into digits and n with value = 0.digits × 10^n.
        var e = shortest.IndexOfAny(['E', 'e']);
        var mantissa = e >= 0 ? shortest[..e] : shortest;
        var power = e >= 0 ? int.Parse(shortest[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : 0;
        var dot = mantissa.IndexOf('.', StringComparison.Ordinal);
        var intPart = dot >= 0 ? mantissa[..dot] : mantissa;
        var fracPart = dot >= 0 ? mantissa[(dot + 1)..] : "";
        var all = intPart + fracPart;
        var leadingZeros = all.Length - all.TrimStart('0').Length;
        var digits = all.Trim('0');
        var n = intPart.Length - leadingZeros + power;
        if (digits.Length == 0)
        {
            return "0";
        }

        var k = digits.Length;
        var sign = value < 0 ? "-" : "";
        if (k <= n && n <= 21)
        {
            return sign + digits + new string('0', n - k);
        }
        if (0 < n && n <= 21)
        {
            return sign + digits[..n] + "." + digits[n..];
        }
        if (-6 < n && n <= 0)
        {
            return sign + "0." + new string('0', -n) + digits;
        }
        var exp = n - 1;
        var expText = (exp >= 0 ? "+" : "-") + Math.Abs(exp).ToString(CultureInfo.InvariantCulture);
        return sign + digits[..1] + (k > 1 ? "." + digits[1..] : "") + "e" + expText;
    }
}
