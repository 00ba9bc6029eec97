using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using UnlearnService.Hosting;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Hosting;

public sealed class OpenApiTests
{
    // OpenAPI paths show {id} where routes say {id:guid}.
    static string WithoutConstraints(string pattern) => System.Text.RegularExpressions.Regex.Replace(pattern, @"\{(\w+):[^}]+\}", "{$1}");

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
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Select(m => $"{m} /{WithoutConstraints(e.RoutePattern.RawText!).Trim('/')}".TrimEnd('/')))
            .ToList();
        Assert.NotEmpty(mapped);
        Assert.All(mapped, endpoint => Assert.Contains(endpoint, documented));
        Assert.Equal(operationIds.Count, operationIds.Distinct(StringComparer.Ordinal).Count());

        Assert.True(mapped.Count > 20, $"only {mapped.Count} endpoints");
        var body = document.GetProperty("components").GetProperty("schemas").GetProperty("CreateDeletionRequestBody").GetProperty("properties");
        Assert.Equal("GDPR Art. 17(1)(b)", body.GetProperty("legalBasis").GetProperty("example").GetString());
        Assert.True(document.GetProperty("components").GetProperty("securitySchemes").TryGetProperty("ApiKey", out _));

        var ui = await client.GetAsync("/swagger/index.html");
        Assert.True(ui.IsSuccessStatusCode);
        await app.StopAsync();
    }
}
