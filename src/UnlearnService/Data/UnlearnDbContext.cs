using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using UnlearnService.Features.Audit;
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
    public DbSet<Webhook> Webhooks => Set<Webhook>();
    public DbSet<WebhookDelivery> WebhookDeliveries => Set<WebhookDelivery>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(UnlearnDbContext).Assembly);
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
