using System.Reflection;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using UnlearnService.Engine.Runtime;
using UnlearnService.Hosting;

namespace UnlearnService.Features.SystemInfo;

internal static class SystemEndpoints
{
    public static IEndpointRouteBuilder MapSystemEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/system").WithTags("System")
            .MapGet("/", GetSystemInfo).WithName("GetSystemInfo")
            .WithSummary("Service version, role, database provider, worker devices and libtorch version.");
        return app;
    }

    static Ok<SystemInfoResponse> GetSystemInfo(
        IOptions<ServiceOptions> service, IOptions<DatabaseOptions> database, IOptions<WorkerOptions> workers) =>
        TypedResults.Ok(new SystemInfoResponse(
            typeof(SystemEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown",
            service.Value.ParsedRole().ToString().ToLowerInvariant(),
            database.Value.ParsedProvider().ToString().ToLowerInvariant(),
            workers.Value.Devices,
            TorchRuntime.Version));
}

internal sealed record SystemInfoResponse(string Version, string Role, string Database, IReadOnlyList<string> Devices, string LibTorch);
