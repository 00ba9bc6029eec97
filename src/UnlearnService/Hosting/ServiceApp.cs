using System.Text.Json.Serialization;
using Hangfire;
using Microsoft.Extensions.Options;
using Serilog;
using UnlearnService.Data;
using UnlearnService.Errors;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Datasets;
using UnlearnService.Features.Certificates;
using UnlearnService.Features.Health;
using UnlearnService.Features.Keys;
using UnlearnService.Features.Models;
using UnlearnService.Features.Requests;
using UnlearnService.Features.Runs;
using UnlearnService.Features.Tenants;
using UnlearnService.Features.Webhooks;
using UnlearnService.Features.SystemInfo;
using UnlearnService.Jobs;

namespace UnlearnService.Hosting;

/// <summary>The table of contents of the service: what it is made of and how requests flow.</summary>
internal static class ServiceApp
{
    public static WebApplication Build(string[] args)
    {
        // appsettings.json ships beside the binary; relative data paths still resolve against the working directory.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.AddServiceOptions();
        builder.AddLogs();
        builder.AddApiDefaults();
        builder.AddDatabase();
        builder.AddJobs();
        builder.AddApiKeys();
        builder.AddSigningKeys();
        builder.AddPipeline();
        builder.AddHealth();

        var app = builder.Build();
        app.UseApiDefaults();
        app.MapHealthEndpoints();
        if (ServesApi(builder.Configuration))
        {
            app.MapSystemEndpoints();
            app.MapTenantEndpoints();
            app.MapDatasetEndpoints();
            app.MapModelEndpoints();
            app.MapRequestEndpoints();
            app.MapWebhookEndpoints();
            app.MapAuditEndpoints();
            app.MapKeyEndpoints();
            app.MapCertificateEndpoints();
            app.MapJobsDashboard();
        }
        return app;
    }

    static bool ServesApi(IConfiguration configuration) =>
        !string.Equals(configuration[$"{ServiceOptions.Section}:Role"], nameof(ServiceRole.Worker), StringComparison.OrdinalIgnoreCase);

    static void AddServiceOptions(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ServiceOptions>().BindConfiguration(ServiceOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<PipelineOptions>().BindConfiguration(PipelineOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ServiceOptions>, ServiceOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<DatabaseOptions>, DatabaseOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<WorkerOptions>, WorkerOptionsValidator>();
    }

    static void AddLogs(this WebApplicationBuilder builder) =>
        builder.Services.AddSerilog((services, logs) => logs
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext()
            .WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}"));

    static void AddApiDefaults(this WebApplicationBuilder builder)
    {
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            // A misspelt field is an error, not a silently ignored default.
            json.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
            // Enums by name: a number would be taken even where no member declares it.
            json.SerializerOptions.Converters.Add(new JsonStringEnumConverter(namingPolicy: null, allowIntegerValues: false));
        });
        builder.Services.AddValidation();
        builder.Services.AddEndpointsApiExplorer();
        builder.Services.AddSwaggerGen(swagger =>
        {
            swagger.SwaggerDoc("v1", new()
            {
                Title = "UnlearnService API",
                Version = "v1",
                Description = "Removes the influence of specific training data from trained models and proves it. Authenticate with 'Authorization: Bearer uk_…'.",
            });
            swagger.IncludeXmlComments(Path.Combine(AppContext.BaseDirectory, "UnlearnService.xml"));
            swagger.AddSecurityDefinition("ApiKey", new Microsoft.OpenApi.OpenApiSecurityScheme
            {
                Type = Microsoft.OpenApi.SecuritySchemeType.Http, Scheme = "bearer", Description = "An API key: uk_{prefix}_{secret}.",
            });
            swagger.AddSecurityRequirement(document => new Microsoft.OpenApi.OpenApiSecurityRequirement
            {
                [new Microsoft.OpenApi.OpenApiSecuritySchemeReference("ApiKey", document)] = [],
            });
        });
    }

    static void UseApiDefaults(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseSerilogRequestLogging();
        app.UseSwagger();
        app.UseSwaggerUI(ui => ui.DocumentTitle = "UnlearnService API");
    }
}
