using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace UnlearnService.Tests.Infrastructure;

/// <summary>A running service (embedded SQLite or PostgreSQL) with an admin client, for API tests.</summary>
public sealed class RunningService : IAsyncDisposable
{
    RunningService(ServiceProcess process, PostgresDatabase? database, string adminKey)
    {
        Process = process;
        Database = database;
        AdminKey = adminKey;
    }

    public ServiceProcess Process { get; }
    public PostgresDatabase? Database { get; }
    public string AdminKey { get; }

    public static readonly IReadOnlyDictionary<string, string> FastPipeline = new Dictionary<string, string>
    {
        ["Pipeline:BatchWindow"] = "00:00:00",
        ["Pipeline:StaleRunAfter"] = "00:00:06",
        // Test receivers listen on loopback.
        ["Webhooks:AllowPrivateNetworks"] = "true",
    };

    /// <summary>Starts the service; on PostgreSQL runs `migrate` and `create-key` first, like an operator.</summary>
    public static async Task<RunningService> StartAsync(bool postgres, IReadOnlyDictionary<string, string>? extra = null, string? dataDirectory = null)
    {
        var settings = new Dictionary<string, string>(FastPipeline);
        foreach (var (k, v) in extra ?? new Dictionary<string, string>()) settings[k] = v;
        PostgresDatabase? database = null;
        string? key = null;
        if (postgres)
        {
            database = await PostgresDatabase.CreateAsync();
            settings["Database:Provider"] = "postgres";
            settings["Database:ConnectionString"] = database.ConnectionString;
            key = await MigrateAndCreateKeyAsync(settings);
        }
        var process = ServiceProcess.Start(settings, dataDirectory: dataDirectory);
        await process.WaitUntilReadyAsync();
        key ??= (await File.ReadAllTextAsync(Path.Combine(process.DataDirectory, "admin-api-key"))).Trim();
        return new RunningService(process, database, key);
    }

    /// <summary>What an operator does on a new PostgreSQL install: `migrate`, then `create-key` for an operator; returns the key.</summary>
    public static async Task<string> MigrateAndCreateKeyAsync(IReadOnlyDictionary<string, string> settings)
    {
        var migrate = await ServiceProcess.RunToExitAsync(settings, ["migrate"]);
        if (migrate.ExitCode != 0) throw new InvalidOperationException(migrate.Output);
        var create = await ServiceProcess.RunToExitAsync(settings, ["create-key", "--tenant", "acme", "--scopes", "admin,operator"]);
        if (create.ExitCode != 0) throw new InvalidOperationException(create.Output);
        return create.Output.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith("uk_", StringComparison.Ordinal));
    }

    public HttpClient Client(string? key = null)
    {
        var client = new HttpClient { BaseAddress = Process.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public HttpClient Admin() => Client(AdminKey);

    /// <summary>A new tenant with a key holding <paramref name="scopes"/>.</summary>
    public async Task<(Guid TenantId, string Key)> NewTenantAsync(string name, params string[] scopes)
    {
        using var admin = Admin();
        var tenant = await (await admin.PostAsJsonAsync("/v1/admin/tenants", new { name })).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        var id = tenant.GetProperty("id").GetGuid();
        var key = await (await admin.PostAsJsonAsync($"/v1/admin/tenants/{id}/api-keys", new { name = "test", scopes })).EnsureSuccessStatusCode()
            .Content.ReadFromJsonAsync<JsonElement>();
        return (id, key.GetProperty("key").GetString()!);
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        if (Database is not null) await Database.DisposeAsync();
    }
}

/// <summary>Calls that API tests repeat: uploads and polling.</summary>
public static class ApiCalls
{
    public static async Task<HttpResponseMessage> UploadFashionAsync(HttpClient client, int train, int test, int subjectSize = 20, string name = "fashion subset",
        int validation = 0)
    {
        var files = FashionMnist.Subset(train, test);
        using var form = new MultipartFormDataContent
        {
            { new StringContent(name), "name" },
            { new StringContent("idx"), "format" },
            { new StringContent(subjectSize.ToString(System.Globalization.CultureInfo.InvariantCulture)), "subject_size" },
            { new ByteArrayContent(await File.ReadAllBytesAsync(files.TrainImages)), "train_images", "train-images.gz" },
            { new ByteArrayContent(await File.ReadAllBytesAsync(files.TrainLabels)), "train_labels", "train-labels.gz" },
            { new ByteArrayContent(await File.ReadAllBytesAsync(files.TestImages)), "test_images", "test-images.gz" },
            { new ByteArrayContent(await File.ReadAllBytesAsync(files.TestLabels)), "test_labels", "test-labels.gz" },
        };
        if (validation > 0)
        {
            var held = FashionMnist.Validation(train, validation);
            form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(held.Images)), "validation_images", "validation-images.gz");
            form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(held.Labels)), "validation_labels", "validation-labels.gz");
        }
        return await client.PostAsync("/v1/datasets", form);
    }

    public static async Task<HttpResponseMessage> RegisterModelAsync(HttpClient client, Guid datasetId, string weightsPath, string name = "cnn")
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent(name), "name" },
            { new StringContent(datasetId.ToString()), "dataset_id" },
            { new ByteArrayContent(await File.ReadAllBytesAsync(weightsPath)), "weights", "weights.safetensors" },
        };
        return await client.PostAsync("/v1/models", form);
    }

    /// <summary>Polls a request until its status is final; fails with the last body after the timeout.</summary>
    public static async Task<JsonElement> WaitForFinalAsync(HttpClient client, string location, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(4));
        JsonElement last = default;
        while (DateTime.UtcNow < deadline)
        {
            last = await client.GetFromJsonAsync<JsonElement>(location);
            if (last.GetProperty("status").GetString() is "completed" or "failed" or "cancelled" or "rejected" or "needs_retraining") return last;
            await Task.Delay(500);
        }
        throw new TimeoutException($"Request at {location} did not finish: {last}");
    }

    /// <summary>Gets until <paramref name="done"/> holds or a minute has passed; returns the last answer either way.</summary>
    public static async Task<JsonElement> PollAsync(Func<Task<JsonElement>> get, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonElement last;
        do
        {
            last = await get();
            if (done(last)) return last;
            await Task.Delay(500);
        } while (DateTime.UtcNow < deadline);
        return last;
    }
}
