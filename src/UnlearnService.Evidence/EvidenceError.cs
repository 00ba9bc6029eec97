namespace UnlearnService.Evidence;

/// <summary>Why a piece of evidence was rejected. Every verifier reports one of these with a message.</summary>
public enum EvidenceError
{
    /// <summary>Nothing wrong: the evidence verified.</summary>
    None = 0,

    /// <summary>The document is not well-formed JSON (truncated, comments, trailing commas, bad UTF-8).</summary>
    MalformedJson,

    /// <summary>A JSON object has the same member name twice.</summary>
    DuplicateKey,

    /// <summary>A member that the format does not define.</summary>
    UnknownField,

    /// <summary>A required member is absent.</summary>
    MissingField,

    /// <summary>A member has the wrong JSON type (a number where a string belongs, null, ...).</summary>
    WrongType,

    /// <summary>A record does not match its schema (reported by the serializer, with the path in the message).</summary>
    SchemaViolation,

    /// <summary>A base64 field is not valid, canonical base64 (standard or URL-safe alphabet).</summary>
    InvalidBase64,

    /// <summary>The envelope has no signature.</summary>
    NoSignatures,

    /// <summary>The envelope's payloadType is not the one this verifier accepts.</summary>
    WrongPayloadType,

    /// <summary>No signature names a key in the trusted key set.</summary>
    UnknownKeyId,

    /// <summary>A signature is not a DER-encoded ECDSA signature (for example raw r||s).</summary>
    NotDerSignature,

    /// <summary>The signature does not verify with the named key: the payload, its type or the signature changed, or another key signed.</summary>
    BadSignature,

    /// <summary>The signed payload is not an in-toto Statement v1.</summary>
    NotInTotoStatement,

    /// <summary>The statement's predicateType is not the unlearning certificate's.</summary>
    WrongPredicateType,

    /// <summary>The payload parses but contradicts itself (subjects versus lineage, verdict versus criteria, ...).</summary>
    Inconsistent,
}

/// <summary>A document broke a format rule; <see cref="Error"/> says which kind.</summary>
public sealed class EvidenceFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="error">The kind of rule broken.</param>
    /// <param name="message">What exactly was wrong, for a person.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public EvidenceFormatException(EvidenceError error, string message, Exception? inner = null)
        : base(message, inner)
    {
        Error = error;
    }

    /// <summary>The kind of rule broken.</summary>
    public EvidenceError Error { get; }
}
