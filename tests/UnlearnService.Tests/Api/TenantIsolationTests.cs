using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

/// <summary>One service with two tenants: the owner's objects, seen by the owner, another tenant, a key without the scope, and no key.</summary>
public sealed class IsolationFixture : IAsyncLifetime
{
    public RunningService Service { get; private set; } = null!;
    public string OwnerKey { get; private set; } = "";
    public string OtherKey { get; private set; } = "";
    public string ReadOnlyKey { get; private set; } = "";
    public Guid OwnerTenantId { get; private set; }
    public string TenantAdminKey { get; private set; } = "";
    public Guid TenantAdminTenantId { get; private set; }
    public Guid DatasetId { get; private set; }
    public Guid ModelId { get; private set; }
    public Guid RequestId { get; private set; }
    public Guid WebhookId { get; private set; }

    public async Task InitializeAsync()
    {
        Service = await RunningService.StartAsync(postgres: false);
        (OwnerTenantId, OwnerKey) = await Service.NewTenantAsync("owner", "models:write", "models:read", "requests:write", "requests:read", "audit:read", "certificates:read");
        (_, OtherKey) = await Service.NewTenantAsync("other", "models:write", "models:read", "requests:write", "requests:read", "audit:read", "certificates:read");
        (_, ReadOnlyKey) = await Service.NewTenantAsync("reader", "audit:read");
        (TenantAdminTenantId, TenantAdminKey) = await Service.NewTenantAsync("tenant-admin", "admin");
        using var owner = Service.Client(OwnerKey);
        DatasetId = (await (await ApiCalls.UploadFashionAsync(owner, 300, 100)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        ModelId = (await (await ApiCalls.RegisterModelAsync(owner, DatasetId, FashionMnist.TrainedModel(300, 100, epochs: 2, width: 8))).EnsureSuccessStatusCode()
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        // The owner's request runs in the background; the tests only read it, and other tenants' cancels must miss it.
        var request = await (await owner.PostAsJsonAsync("/v1/deletion-requests", new { subjectIds = new[] { "subject-1" }, method = "ssd" })).EnsureSuccessStatusCode()
            .Content.ReadFromJsonAsync<JsonElement>();
        RequestId = request.GetProperty("id").GetGuid();
        WebhookId = (await (await owner.PostAsJsonAsync("/v1/webhooks", new { url = "http://127.0.0.1:9/hook" })).EnsureSuccessStatusCode()
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
    }

    public async Task DisposeAsync() => await Service.DisposeAsync();
}

public sealed class TenantIsolationTests(IsolationFixture fixture) : IClassFixture<IsolationFixture>
{
    /// <summary>Every endpoint that reads or changes a tenant's object (the reader key holds none of their scopes).</summary>
    public static TheoryData<string, string> ObjectEndpoints => new()
    {
        { "GET", "/v1/datasets/{dataset}" },
        { "GET", "/v1/models/{model}" },
        { "GET", "/v1/models/{model}/versions" },
        { "GET", "/v1/models/{model}/versions/1/weights" },
        { "GET", "/v1/deletion-requests/{request}" },
        { "POST", "/v1/deletion-requests/{request}/cancel" },
        { "DELETE", "/v1/webhooks/{webhook}" },
    };

    /// <summary>Every list and create endpoint.</summary>
    public static TheoryData<string, string> CollectionEndpoints => new()
    {
        { "GET", "/v1/datasets" },
        { "GET", "/v1/models" },
        { "GET", "/v1/deletion-requests" },
        { "GET", "/v1/webhooks" },
        { "GET", "/v1/audit" },
        { "POST", "/v1/datasets" },
        { "POST", "/v1/models" },
        { "POST", "/v1/deletion-requests" },
        { "POST", "/v1/webhooks" },
        { "GET", "/v1/admin/tenants" },
        { "POST", "/v1/admin/tenants" },
    };

    string Path(string template) => template
        .Replace("{dataset}", fixture.DatasetId.ToString(), StringComparison.Ordinal)
        .Replace("{model}", fixture.ModelId.ToString(), StringComparison.Ordinal)
        .Replace("{request}", fixture.RequestId.ToString(), StringComparison.Ordinal)
        .Replace("{webhook}", fixture.WebhookId.ToString(), StringComparison.Ordinal);

    static HttpRequestMessage Message(string method, string path) => new(new HttpMethod(method), path)
    {
        Content = method == "GET" ? null
            : path is "/v1/datasets" or "/v1/models" ? new MultipartFormDataContent { { new StringContent("x"), "name" } }
            : JsonContent.Create(new { }),
    };

    [Theory]
    [MemberData(nameof(ObjectEndpoints))]
    public async Task ObjectEndpoint_OtherTenant_Answers404(string method, string template)
    {
        using var other = fixture.Service.Client(fixture.OtherKey);
        var response = await other.SendAsync(Message(method, Path(template)));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [MemberData(nameof(ObjectEndpoints))]
    public async Task ObjectEndpoint_KeyWithoutScope_Answers403(string method, string template)
    {
        using var reader = fixture.Service.Client(fixture.ReadOnlyKey);
        var response = await reader.SendAsync(Message(method, Path(template)));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [MemberData(nameof(ObjectEndpoints))]
    public async Task ObjectEndpoint_NoKey_Answers401(string method, string template)
    {
        using var anonymous = fixture.Service.Client();
        var response = await anonymous.SendAsync(Message(method, Path(template)));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [MemberData(nameof(CollectionEndpoints))]
    public async Task CollectionEndpoint_NoKey_Answers401(string method, string path)
    {
        using var anonymous = fixture.Service.Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.SendAsync(Message(method, path))).StatusCode);
    }

    [Theory]
    [InlineData("GET", "/v1/datasets")]
    [InlineData("GET", "/v1/models")]
    [InlineData("GET", "/v1/deletion-requests")]
    [InlineData("POST", "/v1/datasets")]
    [InlineData("POST", "/v1/deletion-requests")]
    [InlineData("GET", "/v1/admin/tenants")]
    public async Task CollectionEndpoint_KeyWithoutScope_Answers403(string method, string path)
    {
        using var reader = fixture.Service.Client(fixture.ReadOnlyKey);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.SendAsync(Message(method, path))).StatusCode);
    }

    [Theory]
    [InlineData("/v1/datasets", "{dataset}")]
    [InlineData("/v1/models", "{model}")]
    [InlineData("/v1/deletion-requests", "{request}")]
    [InlineData("/v1/webhooks", "{webhook}")]
    [InlineData("/v1/audit", "{dataset}")]
    public async Task List_OtherTenant_SeesNoneOfTheOwnersObjects(string path, string ownedId)
    {
        using var other = fixture.Service.Client(fixture.OtherKey);
        using var owner = fixture.Service.Client(fixture.OwnerKey);

        var theirs = await other.GetStringAsync(path);
        var mine = await owner.GetStringAsync(path);

        Assert.DoesNotContain(Path(ownedId), theirs, StringComparison.Ordinal);
        Assert.Contains(Path(ownedId), mine, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletionRequest_OtherTenantsModel_IsRejectedAsUnknown()
    {
        using var other = fixture.Service.Client(fixture.OtherKey);
        var response = await other.PostAsJsonAsync("/v1/deletion-requests", new { subjectIds = new[] { "subject-1" }, modelIds = new[] { fixture.ModelId } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("Unknown models", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "/v1/admin/tenants")]
    [InlineData("POST", "/v1/admin/tenants")]
    [InlineData("GET", "/v1/audit/verify")]
    [InlineData("POST", "/v1/audit/checkpoints")]
    [InlineData("GET", "/hangfire")]
    public async Task OperatorEndpoint_TenantAdmin_IsRefused(string method, string path)
    {
        using var tenantAdmin = fixture.Service.Client(fixture.TenantAdminKey);
        var response = await tenantAdmin.SendAsync(Message(method, path));
        // The dashboard answers 401 (Hangfire's own filter); the API answers 403 problem details.
        Assert.Contains(response.StatusCode, new[] { HttpStatusCode.Forbidden, HttpStatusCode.Unauthorized });
        if (!path.StartsWith("/hangfire", StringComparison.Ordinal)) Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task ApiKeys_TenantAdmin_ManagesOwnTenantOnly()
    {
        using var tenantAdmin = fixture.Service.Client(fixture.TenantAdminKey);
        using var operatorClient = fixture.Service.Admin();
        var ownersKeys = await operatorClient.GetFromJsonAsync<JsonElement>($"/v1/admin/tenants/{fixture.OwnerTenantId}/api-keys");
        var ownersKeyId = ownersKeys[0].GetProperty("id").GetGuid();

        // Another tenant's keys: 404, as for every other object of another tenant.
        Assert.Equal(HttpStatusCode.NotFound, (await tenantAdmin.GetAsync($"/v1/admin/tenants/{fixture.OwnerTenantId}/api-keys")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound,
            (await tenantAdmin.PostAsJsonAsync($"/v1/admin/tenants/{fixture.OwnerTenantId}/api-keys", new { name = "x", scopes = new[] { "models:read" } })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await tenantAdmin.PostAsync($"/v1/admin/api-keys/{ownersKeyId}/revoke", null)).StatusCode);
        using (var owner = fixture.Service.Client(fixture.OwnerKey))
            Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/v1/datasets")).StatusCode);

        // Its own tenant: allowed, except granting the operator scope.
        var own = $"/v1/admin/tenants/{fixture.TenantAdminTenantId}/api-keys";
        var created = await tenantAdmin.PostAsJsonAsync(own, new { name = "ci", scopes = new[] { "models:read" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(2, (await tenantAdmin.GetFromJsonAsync<JsonElement>(own)).GetArrayLength());
        var escalate = await tenantAdmin.PostAsJsonAsync(own, new { name = "root", scopes = new[] { "operator" } });
        Assert.Equal(HttpStatusCode.Forbidden, escalate.StatusCode);
        Assert.Equal("application/problem+json", escalate.Content.Headers.ContentType?.MediaType);
        var newKeyId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        Assert.Equal(HttpStatusCode.NoContent, (await tenantAdmin.PostAsync($"/v1/admin/api-keys/{newKeyId}/revoke", null)).StatusCode);
    }

    [Fact]
    public async Task ObjectEndpoint_Owner_Succeeds()
    {
        using var owner = fixture.Service.Client(fixture.OwnerKey);
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync(Path("/v1/datasets/{dataset}"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync(Path("/v1/models/{model}/versions/1/weights"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync(Path("/v1/deletion-requests/{request}"))).StatusCode);
    }
}
