using Hangfire;
using Hangfire.Dashboard;
using UnlearnService.Features.Requests;
using UnlearnService.Features.Webhooks;
using UnlearnService.Hosting;
using UnlearnService.Storage;

namespace UnlearnService.Features.Runs;

internal static class PipelineSetup
{
    public static IHostApplicationBuilder AddPipeline(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<BlobStore>();
        builder.Services.AddScoped<RequestIntake>();
        builder.Services.AddScoped<RunPlanner>();
        builder.Services.AddScoped<RunExecutor>();
        builder.Services.AddScoped<ImportanceJob>();
        builder.Services.AddScoped<PurgeJob>();
        builder.Services.AddScoped<WebhookSender>();
        builder.Services.AddScoped<Audit.AuditCheckpointer>();
        builder.Services.AddScoped<Certificates.CertificateJob>();
        builder.Services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section);
        builder.Services.AddHttpClient("webhooks", client => client.Timeout = TimeSpan.FromSeconds(10))
            .ConfigurePrimaryHttpMessageHandler(services => WebhookTargets.Handler(services.GetRequiredService<Microsoft.Extensions.Options.IOptions<WebhookOptions>>().Value.AllowPrivateNetworks));
        var role = builder.Configuration[$"{ServiceOptions.Section}:Role"];
        if (!string.Equals(role, nameof(ServiceRole.Api), StringComparison.OrdinalIgnoreCase))
            builder.Services.AddHostedService<PipelineRecovery>();
        return builder;
    }

    /// <summary>The Hangfire dashboard, for operator keys only (and, as Hangfire's default, only from this machine otherwise).</summary>
    public static void MapJobsDashboard(this WebApplication app) =>
        app.MapHangfireDashboard("/hangfire", new DashboardOptions { Authorization = [new OperatorDashboardAuthorization()] });

    sealed class OperatorDashboardAuthorization : Hangfire.Dashboard.IDashboardAuthorizationFilter
    {
        public bool Authorize(Hangfire.Dashboard.DashboardContext context)
        {
            var http = ((AspNetCoreDashboardContext)context).HttpContext;
            return http.User.HasClaim(Tenants.ApiKeyAuthentication.ScopeClaim, Tenants.Scopes.Operator);
        }
    }
}
