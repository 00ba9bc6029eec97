using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using UnlearnService.Hosting;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Hosting;

public sealed class OpenApiTests
{
    [Fact]
    public async Task SwaggerJson_Served_ListsEveryEndpointWithUniqueOperationId()
    {
        // In-process, so the test can enumerate the endpoints the app really maps; still served over HTTP.
        var data = TempFolder.Create("openapi");
        await using var app = ServiceApp.Build(["--Service:Role=api", $"--Service:DataDirectory={data}", "--Kestrel:Endpoints:Http:Url=http://127.0.0.1:0"]);
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        var document = await client.GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json");
        var documented = new HashSet<string>();
        var operationIds = new List<string>();
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                documented.Add($"{operation.Name.ToUpperInvariant()} {path.Name.TrimEnd('/')}");
                Assert.True(operation.Value.TryGetProperty("operationId", out var id), $"{operation.Name} {path.Name} has no operationId");
                operationIds.Add(id.GetString()!);
            }
        }

        var mapped = app.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<MethodInfo>() is not null) // our handlers, not the dashboard's
            // Swagger names a parameter without its route constraint: {id:guid} is documented as {id}.
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods
                .Select(m => $"{m} /{Regex.Replace(e.RoutePattern.RawText!.Trim('/'), @"\{(\w+):[^}]*\}", "{$1}")}".TrimEnd('/')))
            .ToList();
        Assert.NotEmpty(mapped);
        Assert.All(mapped, endpoint => Assert.Contains(endpoint, documented));
        Assert.Equal(operationIds.Count, operationIds.Distinct(StringComparer.Ordinal).Count());

        var ui = await client.GetAsync("/swagger/index.html");
        Assert.True(ui.IsSuccessStatusCode);
        await app.StopAsync();
    }
}
