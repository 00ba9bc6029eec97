using System.Formats.Asn1;
using System.Globalization;
using System.Text;

namespace UnlearnService.Evidence;

/// <summary>The outcome of verifying a DSSE envelope.</summary>
/// <param name="Error"><see cref="EvidenceError.None"/> when valid; otherwise why it was rejected.</param>
/// <param name="Message">A sentence for a person.</param>
/// <param name="Payload">The verified payload bytes, only when valid: use these, never re-read the envelope.</param>
/// <param name="Key">The trusted key whose signature verified, only when valid.</param>
public sealed record DsseVerification(EvidenceError Error, string Message, byte[]? Payload, VerificationKey? Key)
{
    /// <summary>Whether the envelope verified.</summary>
    public bool IsValid => Error == EvidenceError.None;

    internal static DsseVerification Fail(EvidenceError error, string message) => new(error, message, null, null);
}

/// <summary>
/// DSSE protocol v1: the pre-authentication encoding, signing, and verification with ECDSA P-256 / SHA-256
/// DER signatures (ES256) against a set of trusted keys. One valid signature by a trusted key suffices
/// (threshold 1); other signatures are ignored.
/// </summary>
public static class Dsse
{
    /// <summary>
    /// PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, where LEN is the byte length in
    /// ASCII decimal. This, not the envelope JSON, is what gets signed: the type is authenticated too, and
    /// nothing depends on how the JSON was written.
    /// </summary>
    /// <param name="payloadType">The payload type (UTF-8 encoded).</param>
    /// <param name="payload">The serialized body.</param>
    /// <returns>The bytes to sign.</returns>
    public static byte[] Pae(string payloadType, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(payloadType);
        var type = Encoding.UTF8.GetBytes(payloadType);
        // Built from bytes: LEN counts UTF-8 bytes, so a non-ASCII type must not go through an ASCII encoder.
        var prefix = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"DSSEv1 {type.Length} "));
        var middle = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $" {payload.Length} "));
        var result = new byte[prefix.Length + type.Length + middle.Length + payload.Length];
        prefix.CopyTo(result, 0);
        type.CopyTo(result, prefix.Length);
        middle.CopyTo(result, prefix.Length + type.Length);
        payload.CopyTo(result.AsSpan(prefix.Length + type.Length + middle.Length));
        return result;
    }

    /// <summary>Signs a payload: one signature by <paramref name="key"/>, with its key id.</summary>
    /// <param name="payloadType">The payload type.</param>
    /// <param name="payload">The serialized body.</param>
    /// <param name="key">The signing key.</param>
    /// <returns>The envelope.</returns>
    public static DsseEnvelope Sign(string payloadType, ReadOnlySpan<byte> payload, SigningKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var signature = key.Sign(Pae(payloadType, payload));
        return new DsseEnvelope(payload.ToArray(), payloadType, [new DsseSignature(key.KeyId, signature)]);
    }

    /// <summary>
    /// Verifies an envelope: strict parsing (see <see cref="DsseEnvelope.Parse"/>), the expected payload type,
    /// then the signatures whose key id names a trusted key. Never throws for bad input; the result says why.
    /// </summary>
    /// <param name="envelopeJson">The envelope JSON.</param>
    /// <param name="expectedPayloadType">The only payload type accepted.</param>
    /// <param name="trustedKeys">The keys to trust.</param>
    /// <returns>The outcome, with the payload bytes that were verified when valid.</returns>
    public static DsseVerification Verify(string envelopeJson, string expectedPayloadType, KeySet trustedKeys)
    {
        ArgumentNullException.ThrowIfNull(envelopeJson);
        ArgumentNullException.ThrowIfNull(trustedKeys);
        DsseEnvelope envelope;
        try
        {
            envelope = DsseEnvelope.Parse(envelopeJson);
        }
        catch (EvidenceFormatException e)
        {
            return DsseVerification.Fail(e.Error, e.Message);
        }
        return Verify(envelope, expectedPayloadType, trustedKeys);
    }

    /// <inheritdoc cref="Verify(string, string, KeySet)"/>
    /// <param name="envelope">A parsed envelope.</param>
    /// <param name="expectedPayloadType">The only payload type accepted.</param>
    /// <param name="trustedKeys">The keys to trust.</param>
    public static DsseVerification Verify(DsseEnvelope envelope, string expectedPayloadType, KeySet trustedKeys)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(trustedKeys);
        if (!string.Equals(envelope.PayloadType, expectedPayloadType, StringComparison.Ordinal))
        {
            return DsseVerification.Fail(EvidenceError.WrongPayloadType,
                $"payloadType is '{envelope.PayloadType}', expected '{expectedPayloadType}'.");
        }

        var pae = Pae(envelope.PayloadType, envelope.Payload);
        DsseVerification? failure = null;
        foreach (var signature in envelope.Signatures)
        {
            if (!trustedKeys.TryGet(signature.KeyId, out var key))
            {
                continue;
            }
            if (!IsDerEcdsaSignature(signature.Sig))
            {
                failure ??= DsseVerification.Fail(EvidenceError.NotDerSignature,
                    $"The signature by key {key.KeyId} is not a DER-encoded ECDSA signature.");
                continue;
            }
            if (key.Verify(pae, signature.Sig))
            {
                return new DsseVerification(EvidenceError.None, $"Signed by key {key.KeyId}.", envelope.Payload, key);
            }
            // A bad signature outranks a malformed one in the report: it is the stronger sign of tampering.
            failure = DsseVerification.Fail(EvidenceError.BadSignature,
                $"The signature by key {key.KeyId} does not verify: the payload, its type or the signature was changed, or another key signed.");
        }
        return failure ?? DsseVerification.Fail(EvidenceError.UnknownKeyId,
            $"No signature names a trusted key (key ids: {string.Join(", ", envelope.Signatures.Select(s => s.KeyId.Length == 0 ? "(none)" : s.KeyId))}).");
    }

    /// <summary>Whether the bytes are exactly a DER SEQUENCE of two positive INTEGERs (r, s) of at most 256 bits.</summary>
    internal static bool IsDerEcdsaSignature(ReadOnlySpan<byte> signature)
    {
        try
        {
            var reader = new AsnReader(signature.ToArray(), AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            var r = sequence.ReadIntegerBytes();
            var s = sequence.ReadIntegerBytes();
            sequence.ThrowIfNotEmpty();
            reader.ThrowIfNotEmpty();
            return IsPositive256(r.Span) && IsPositive256(s.Span);
        }
        catch (AsnContentException)
        {
            return false;
        }

        static bool IsPositive256(ReadOnlySpan<byte> value) =>
            value.Length > 0 && (value[0] & 0x80) == 0 && value.IndexOfAnyExcept((byte)0) >= 0
            && (value.Length <= 32 || (value.Length == 33 && value[0] == 0));
    }
}
