using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using UnlearnService.Data;
using UnlearnService.Errors;
using UnlearnService.Evidence;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Tenants;

namespace UnlearnService.Features.Certificates;

/// <summary>
/// The outcome of POST /v1/certificates/verify: <paramref name="Error"/> is the evidence library's reason
/// (BadSignature, UnknownKeyId, Inconsistent, DuplicateKey, …) when invalid; the certificate only when valid.
/// </summary>
internal sealed record CertificateVerificationResponse(bool Valid, string Error, string Message, string? KeyId, string? RequestId, JsonElement? Certificate);

internal static class CertificateEndpoints
{
    /// <summary>Certificates are a few kilobytes; anything this large is not one.</summary>
    public const int MaxEnvelopeBytes = 1 << 20;

    public static IEndpointRouteBuilder MapCertificateEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/certificates").WithTags("Certificates");
        group.MapGet("/{requestId:guid}", Get).WithName("GetCertificate").RequireAuthorization(Scopes.CertificatesRead)
            .WithSummary("The signed certificate of a completed request: the DSSE envelope (JSON, default), or its report with format=pdf|html or Accept: application/pdf|text/html. A request on several models needs modelId.")
            .Produces<JsonElement>(StatusCodes.Status200OK, "application/json").Produces(StatusCodes.Status200OK, contentType: "application/pdf")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        // Anonymous like /v1/keys: it reads nothing but the body and the public keys.
        group.MapPost("/verify", Verify).WithName("VerifyCertificate").AllowAnonymous()
            .WithSummary("Verify a certificate envelope (the body, as downloaded) against the service's public keys, active and retired. 200 either way; 'valid' says which.")
            .Accepts<JsonElement>("application/json").Produces<CertificateVerificationResponse>();
        return app;
    }

    static async Task<IResult> Get(Guid requestId, HttpRequest http, UnlearnDbContext db, KeyRing keys, ClaimsPrincipal user,
        Guid? modelId = null, string? format = null, CancellationToken cancellationToken = default)
    {
        var caller = Caller.From(user);
        var kind = Format(format, http);
        var query = db.Certificates.AsNoTracking().Where(c => c.RequestId == requestId && c.TenantId == caller.TenantId);
        if (modelId is not null) query = query.Where(c => c.ModelId == modelId);
        var rows = await query.OrderBy(c => c.ModelId).ToListAsync(cancellationToken);
        if (rows.Count == 0)
        {
            var status = await db.DeletionRequests.Where(r => r.Id == requestId && r.TenantId == caller.TenantId).Select(r => r.Status).SingleOrDefaultAsync(cancellationToken);
            throw new ProblemException(StatusCodes.Status404NotFound, status is null ? "No such request."
                : $"No certificate {(modelId is null ? "" : "for that model ")}yet: the request is {status}; certificates are issued shortly after completion.");
        }
        if (rows.Count > 1)
            throw new ProblemException(StatusCodes.Status409Conflict,
                $"The request has certificates for {rows.Count} models; choose one with ?modelId= ({string.Join(", ", rows.Select(r => r.ModelId))}).");
        var row = rows[0];
        db.Record(caller.TenantId, caller.Actor, "certificate.downloaded", "deletion_request", requestId, new { row.ModelId, format = kind });
        await db.SaveChangesAsync(cancellationToken);
        if (kind == "json") return Results.Text(row.EnvelopeJson, "application/json", Encoding.UTF8);

        // The report is rendered from what the signature covers, never from the database's copies.
        var verified = CertificateVerifier.Verify(row.EnvelopeJson, keys.VerificationKeys);
        if (!verified.IsValid)
            throw new ProblemException(StatusCodes.Status500InternalServerError,
                $"The stored certificate does not verify with the service's keys ({verified.Error}: {verified.Message}); was a key removed instead of retired?");
        return kind == "pdf"
            ? Results.File(CertificateReport.RenderPdf(verified.Certificate!, verified.Key!), "application/pdf", $"certificate-{requestId}.pdf")
            : Results.Content(CertificateReport.RenderHtml(verified.Certificate!, verified.Key!), "text/html", Encoding.UTF8);
    }

    /// <summary>format= wins; then the Accept header (a browser asking for HTML gets the HTML report); JSON otherwise.</summary>
    static string Format(string? format, HttpRequest http)
    {
        if (format is not null)
        {
            return format.ToLowerInvariant() is "json" or "pdf" or "html" ? format.ToLowerInvariant()
                : throw new ProblemException(StatusCodes.Status400BadRequest, $"format '{format}' is not json, pdf or html.");
        }
        foreach (var accept in http.GetTypedHeaders().Accept.OrderByDescending(a => a.Quality ?? 1))
        {
            if (accept.MediaType.Equals("application/pdf", StringComparison.OrdinalIgnoreCase)) return "pdf";
            if (accept.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase)) return "html";
            if (accept.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)) return "json";
        }
        return "json";
    }

    static async Task<IResult> Verify(HttpRequest http, KeyRing keys, CancellationToken cancellationToken)
    {
        // The raw bytes, not a bound model: the strict parser must see duplicate keys and every byte that was signed.
        if (http.ContentLength > MaxEnvelopeBytes)
            throw new ProblemException(StatusCodes.Status413PayloadTooLarge, $"A certificate envelope is at most {MaxEnvelopeBytes} bytes.");
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await http.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxEnvelopeBytes)
                throw new ProblemException(StatusCodes.Status413PayloadTooLarge, $"A certificate envelope is at most {MaxEnvelopeBytes} bytes.");
            buffer.Write(chunk, 0, read);
        }
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        catch (DecoderFallbackException)
        {
            return Results.Ok(new CertificateVerificationResponse(false, nameof(EvidenceError.MalformedJson), "The body is not UTF-8.", null, null, null));
        }
        var result = CertificateVerifier.Verify(text, keys.VerificationKeys);
        return Results.Ok(new CertificateVerificationResponse(result.IsValid, result.Error.ToString(), result.Message, result.Key?.KeyId,
            result.Certificate?.Request.Id, result.Certificate is null ? null : JsonSerializer.SerializeToElement(result.Certificate, EvidenceJson.Options)));
    }
}
