using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Certificates;
using UnlearnService.Features.Datasets;
using UnlearnService.Features.Models;
using UnlearnService.Features.Requests;
using UnlearnService.Features.Runs;
using UnlearnService.Features.Tenants;
using UnlearnService.Features.Webhooks;

namespace UnlearnService.Data;

/// <summary>
/// The service's database. Each provider has a derived context so that each keeps its own migrations
/// (Data/Migrations/Sqlite and Data/Migrations/Postgres); the model itself is shared.
/// </summary>
internal abstract class UnlearnDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<Tenant> Tenants => Set<Tenant>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<DatasetRecord> Datasets => Set<DatasetRecord>();
    public DbSet<DatasetSample> DatasetSamples => Set<DatasetSample>();
    public DbSet<ModelRecord> Models => Set<ModelRecord>();
    public DbSet<ModelVersion> ModelVersions => Set<ModelVersion>();
    public DbSet<DeletionRequest> DeletionRequests => Set<DeletionRequest>();
    public DbSet<RequestModel> RequestModels => Set<RequestModel>();
    public DbSet<UnlearningRun> Runs => Set<UnlearningRun>();
    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();
    public DbSet<AuditCheckpointRecord> AuditCheckpoints => Set<AuditCheckpointRecord>();
    public DbSet<CertificateRecord> Certificates => Set<CertificateRecord>();
    public DbSet<Webhook> Webhooks => Set<Webhook>();
    public DbSet<WebhookDelivery> WebhookDeliveries => Set<WebhookDelivery>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(UnlearnDbContext).Assembly);

    /// <summary>
    /// Saves; new audit events are first appended to the hash chain under the audit lock, in the same transaction
    /// as the change they describe (the caller's transaction when there is one, else one begun here).
    /// </summary>
    public override async Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        var added = ChangeTracker.Entries<AuditEvent>().Where(e => e.State == EntityState.Added).Select(e => e.Entity)
            .OrderBy(e => e.Timestamp).ToList();
        if (added.Count == 0) return await base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
        if (Database.CurrentTransaction is not null)
        {
            await AuditTrail.ChainAsync(this, added, cancellationToken);
            return await base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
        }
        await using var transaction = await Database.BeginTransactionAsync(cancellationToken);
        await AuditTrail.ChainAsync(this, added, cancellationToken);
        var saved = await base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return saved;
    }

    /// <summary>Chaining needs a query under a lock; the service saves asynchronously everywhere.</summary>
    public override int SaveChanges(bool acceptAllChangesOnSuccess) =>
        ChangeTracker.Entries<AuditEvent>().Any(e => e.State == EntityState.Added)
            ? throw new NotSupportedException("Audit events are chained by SaveChangesAsync; use it.")
            : base.SaveChanges(acceptAllChangesOnSuccess);
}

internal sealed class SqliteUnlearnDbContext(DbContextOptions<SqliteUnlearnDbContext> options) : UnlearnDbContext(options)
{
    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite has no timestamp type; as a sortable integer, comparisons and ORDER BY work in SQL.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
    }
}

internal sealed class PostgresUnlearnDbContext(DbContextOptions<PostgresUnlearnDbContext> options) : UnlearnDbContext(options);
