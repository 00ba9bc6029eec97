using System.Text.Json;
using System.Text.Json.Serialization;

namespace UnlearnService.Engine.Formats;

/// <summary>
/// Enum values from untrusted text by declared name only. Enum.TryParse and JsonStringEnumConverter also take numbers,
/// defined or not, and comma-separated lists that they OR together even for enums that are not flags: "SmallCnn,
/// ResNet18" reads as TorchScript, and "FineTune, GradientAscent" as RandomLabel.
/// </summary>
public static class EnumNames
{
    /// <summary>Finds the member declared with this name, ignoring case; false for anything else.</summary>
    public static bool TryParse<TEnum>(string? name, out TEnum value) where TEnum : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<TEnum>())
        {
            if (string.Equals(candidate.ToString(), name, StringComparison.OrdinalIgnoreCase))
            {
                value = candidate;
                return true;
            }
        }
        value = default;
        return false;
    }

    /// <summary>The declared names, for messages: "Mlp, SmallCnn, ResNet18, TorchScript".</summary>
    public static string List<TEnum>() where TEnum : struct, Enum => string.Join(", ", Enum.GetNames<TEnum>());

    /// <summary>Throws <see cref="ArgumentException"/> for a value no member declares, such as (TaskKind)7.</summary>
    public static void ThrowIfUndefined<TEnum>(TEnum value, string what, string? paramName = null) where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
            throw new ArgumentException($"{what} {Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)} is not one of {List<TEnum>()}.", paramName);
    }
}

/// <summary>
/// Reads and writes an enum as its declared name (any case on reading), refusing numbers and lists; see
/// <see cref="EnumNames"/>.
/// </summary>
internal sealed class EnumNameConverter<TEnum> : JsonConverter<TEnum> where TEnum : struct, Enum
{
    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        if (!EnumNames.TryParse<TEnum>(name, out var value))
            throw new JsonException($"{typeof(TEnum).Name} must be one of the names {EnumNames.List<TEnum>()}, " +
                $"not {(name is null ? $"a JSON {reader.TokenType}" : SafeTensorsHeader.Quote(name))}.");
        return value;
    }

    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}
