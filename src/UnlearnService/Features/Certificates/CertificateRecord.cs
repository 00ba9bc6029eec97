using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace UnlearnService.Features.Certificates;

/// <summary>
/// A signed unlearning certificate: one per completed request and model (a request that names one model has
/// one). The envelope is stored exactly as signed and served byte for byte.
/// </summary>
internal sealed class CertificateRecord
{
    public Guid Id { get; set; }
    public Guid TenantId { get; set; }
    public Guid RequestId { get; set; }
    public Guid ModelId { get; set; }
    public Guid RunId { get; set; }
    public required string KeyId { get; set; }

    /// <summary>The DSSE envelope JSON.</summary>
    public required string EnvelopeJson { get; set; }

    public DateTimeOffset IssuedAt { get; set; }
}

internal sealed class CertificateConfiguration : IEntityTypeConfiguration<CertificateRecord>
{
    public void Configure(EntityTypeBuilder<CertificateRecord> builder)
    {
        builder.ToTable("certificates");
        builder.HasKey(c => c.Id);
        builder.Property(c => c.KeyId).HasMaxLength(64);
        // A retried or duplicated issuing job cannot issue a second certificate.
        builder.HasIndex(c => new { c.RequestId, c.ModelId }).IsUnique();
        builder.HasIndex(c => new { c.TenantId, c.RequestId });
        builder.HasOne<Requests.DeletionRequest>().WithMany().HasForeignKey(c => c.RequestId).OnDelete(DeleteBehavior.Restrict);
    }
}
