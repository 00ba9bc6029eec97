using System.Text.Json;
using System.Text.Json.Serialization;

namespace UnlearnService.Evidence;

/// <summary>An in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md).</summary>
/// <param name="Type">Always <see cref="StatementType"/> (JSON member <c>_type</c>).</param>
/// <param name="Subject">The artifacts the statement is about, by digest.</param>
/// <param name="PredicateType">A URI naming the predicate's schema.</param>
/// <param name="Predicate">The predicate, read according to <paramref name="PredicateType"/>.</param>
public sealed record InTotoStatement(
    [property: JsonPropertyName("_type")] string Type,
    IReadOnlyList<InTotoSubject> Subject,
    string PredicateType,
    JsonElement Predicate)
{
    /// <summary>The <c>_type</c> of an in-toto Statement v1.</summary>
    public const string StatementType = "https://in-toto.io/Statement/v1";

    /// <summary>The DSSE payloadType of an in-toto statement.</summary>
    public const string PayloadType = "application/vnd.in-toto+json";
}

/// <summary>An in-toto subject: a name and the digests of its content.</summary>
/// <param name="Name">The artifact's name.</param>
/// <param name="Digest">Algorithm → lowercase hex digest; ours always hold <c>sha256</c> only.</param>
public sealed record InTotoSubject(string Name, IReadOnlyDictionary<string, string> Digest);
