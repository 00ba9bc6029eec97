using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Models;
using UnlearnService.Tests.Infrastructure;

namespace UnlearnService.Tests.Api;

public sealed class BadInputFixture : IAsyncLifetime
{
    public RunningService Service { get; private set; } = null!;
    public Guid DatasetId { get; private set; }

    public async Task InitializeAsync()
    {
        Service = await RunningService.StartAsync(postgres: false, new Dictionary<string, string>
        {
            ["Limits:MaxDatasetUploadBytes"] = "3000000",
            ["Webhooks:AllowPrivateNetworks"] = "false", // the default, which the test fixture otherwise relaxes
        });
        using var client = Service.Admin();
        DatasetId = (await (await ApiCalls.UploadFashionAsync(client, 300, 100)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
    }

    public async Task DisposeAsync() => await Service.DisposeAsync();
}

/// <summary>Malformed, oversized and hostile input: each a 4xx problem-details response, and nothing half-written.</summary>
public sealed class BadInputTests(BadInputFixture fixture) : IClassFixture<BadInputFixture>
{
    static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest)) gzip.Write(data);
        return output.ToArray();
    }

    /// <summary>The small CNN's safetensors with one output bias set to <paramref name="value"/>.</summary>
    static byte[] WithBias(byte[] weights, float value)
    {
        using var loaded = ModelFile.Load(new MemoryStream(weights));
        using (TorchSharp.torch.no_grad())
            loaded.Model.named_parameters().Single(p => p.name == "fc2.bias").parameter[3].fill_(value);
        using var output = new MemoryStream();
        ModelFile.Save(output, loaded.Model, loaded.Spec, loaded.Recipe);
        return output.ToArray();
    }

    /// <summary>A small CNN for 16×16 images with a NaN bias: it fails two checks, and the cheaper one answers.</summary>
    static byte[] BrokenModelForOtherImages()
    {
        var spec = new ModelSpec { Architecture = Architecture.SmallCnn, InputShape = [1, 16, 16], Outputs = 10, Width = 8 };
        using var model = ModelZoo.Create(spec, seed: 3);
        using var output = new MemoryStream();
        ModelFile.Save(output, model, spec, recipe: null);
        return WithBias(output.ToArray(), float.NaN);
    }

    /// <summary>A safetensors file of no tensors whose metadata describes a model.</summary>
    static byte[] SpecOnly(string specJson)
    {
        using var output = new MemoryStream();
        SafeTensors.WriteStateDict(output, new Dictionary<string, TorchSharp.torch.Tensor>(), new Dictionary<string, string> { [ModelFile.SpecKey] = specJson });
        return output.ToArray();
    }

    static byte[] Idx(byte type, int[] dims, int bodyBytes)
    {
        var header = new List<byte> { 0, 0, type, (byte)dims.Length };
        foreach (var d in dims) header.AddRange(BitConverter.GetBytes(d).Reverse());
        return [.. header, .. new byte[bodyBytes]];
    }

    static MultipartFormDataContent Form(params (string Name, object Value)[] parts)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in parts)
        {
            if (value is byte[] bytes) form.Add(new ByteArrayContent(bytes), name, name + ".bin");
            else form.Add(new StringContent((string)value), name);
        }
        return form;
    }

    public static TheoryData<string, int, string> DatasetUploads => new()
    {
        { "json instead of multipart", 415, "" },
        { "missing name", 400, "field 'name' is required" },
        { "unknown format", 400, "format 'zip'" },
        { "unknown part", 400, "Unknown part 'evil'" },
        { "truncated gzip images", 422, "" },
        { "labels and images disagree", 422, "" },
        { "image count beyond file", 422, "" },
        { "ragged csv", 422, "CSV row 3" },
        { "csv without rows", 422, "no data rows" },
        { "safetensors with garbage", 422, "" },
        { "oversized upload", 413, "exceeds the limit" },
        { "duplicate part", 400, "appears twice" },
        { "bad subject_size", 400, "subject_size" },
        { "validation images without labels", 400, "'validation_labels' is required" },
        { "validation images of another size", 422, "the validation images are [14, 14]" },
    };

    static HttpContent DatasetBody(string name)
    {
        var images = Gzip(Idx(0x08, [10, 28, 28], 10 * 784));
        var labels = Gzip(Idx(0x08, [10], 10));
        return name switch
        {
            "json instead of multipart" => JsonContent.Create(new { name = "x" }),
            "missing name" => Form(("format", "idx"), ("train_images", images), ("train_labels", labels)),
            "unknown format" => Form(("name", "x"), ("format", "zip"), ("file", new byte[10])),
            "unknown part" => Form(("name", "x"), ("format", "idx"), ("evil", "1")),
            "truncated gzip images" => Form(("name", "x"), ("format", "idx"), ("train_images", images[..(images.Length / 2)]), ("train_labels", labels)),
            "labels and images disagree" => Form(("name", "x"), ("format", "idx"), ("train_images", images), ("train_labels", Gzip(Idx(0x08, [9], 9)))),
            "image count beyond file" => Form(("name", "x"), ("format", "idx"), ("train_images", Gzip(Idx(0x08, [1000, 28, 28], 784))), ("train_labels", labels)),
            "ragged csv" => Form(("name", "x"), ("format", "csv"), ("file", Encoding.UTF8.GetBytes("a,b,label\n1,2,0\n1,0\n"))),
            "csv without rows" => Form(("name", "x"), ("format", "csv"), ("file", Encoding.UTF8.GetBytes("a,b,label\n"))),
            "safetensors with garbage" => Form(("name", "x"), ("format", "safetensors"), ("file", Encoding.UTF8.GetBytes("\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ffnot json"))),
            "oversized upload" => Form(("name", "x"), ("format", "idx"), ("train_images", new byte[3_100_000]), ("train_labels", labels)),
            "duplicate part" => Form(("name", "x"), ("name", "y"), ("format", "idx")),
            "bad subject_size" => Form(("name", "x"), ("format", "idx"), ("subject_size", "-3"), ("train_images", images), ("train_labels", labels)),
            "validation images without labels" => Form(("name", "x"), ("format", "idx"), ("train_images", images), ("train_labels", labels), ("validation_images", images)),
            "validation images of another size" => Form(("name", "x"), ("format", "idx"), ("train_images", images), ("train_labels", labels),
                ("validation_images", Gzip(Idx(0x08, [10, 14, 14], 10 * 196))), ("validation_labels", labels)),
            _ => throw new ArgumentException(name),
        };
    }

    [Theory]
    [MemberData(nameof(DatasetUploads))]
    public async Task CreateDataset_BadUpload_Answers4xxProblemAndStoresNothing(string name, int status, string detail)
    {
        using var client = fixture.Service.Admin();
        var before = (await client.GetFromJsonAsync<JsonElement>("/v1/datasets")).GetProperty("total").GetInt32();

        var response = await client.PostAsync("/v1/datasets", DatasetBody(name));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(before, (await client.GetFromJsonAsync<JsonElement>("/v1/datasets")).GetProperty("total").GetInt32());
        var blobs = Path.Combine(fixture.Service.Process.DataDirectory, "blobs");
        Assert.Empty(Directory.EnumerateFiles(blobs, "*.partial", SearchOption.AllDirectories));
        Assert.Empty(Directory.EnumerateFiles(blobs, "*.upload", SearchOption.AllDirectories));
    }

    public static TheoryData<string, int, string> ModelUploads => new()
    {
        { "weights are not safetensors", 422, "do not load" },
        { "wrong architecture", 422, "missing [" },
        { "unknown dataset", 422, "does not exist" },
        { "missing weights", 400, "'weights' is required" },
        { "bad architecture name", 400, "architecture 'Transformer'" },
        { "bad recipe", 400, "recipe" },
        { "bad augmentation", 400, "padding -3" },
        { "unknown augmentation field", 400, "rotate" },
        { "empty augmentation", 400, "does nothing" },
        { "TorchScript as architecture", 400, "architecture 'TorchScript' is not Mlp, SmallCnn or ResNet18" },
        { "architectures listed", 400, "architecture 'Mlp, SmallCnn' is not Mlp, SmallCnn or ResNet18" },
        { "spec of a model too large to build", 422, "would have 4.11E+09 parameters, over the limit" },
        { "NaN weights", 422, "'fc2.bias' holds NaN or infinite values" },
        { "infinite weights", 422, "'fc2.bias' holds NaN or infinite values" },
        { "broken model for other images", 422, "The model takes inputs [1, 16, 16] but the dataset's samples are [1, 28, 28]." },
    };

    [Theory]
    [MemberData(nameof(ModelUploads))]
    public async Task RegisterModel_BadUpload_Answers4xxProblemAndStoresNothing(string name, int status, string detail)
    {
        using var client = fixture.Service.Admin();
        var weights = await File.ReadAllBytesAsync(FashionMnist.TrainedModel(300, 100, epochs: 2, width: 8));
        var dataset = fixture.DatasetId.ToString();
        var form = name switch
        {
            "weights are not safetensors" => Form(("name", "m"), ("dataset_id", dataset), ("weights", new byte[100])),
            "wrong architecture" => Form(("name", "m"), ("dataset_id", dataset), ("architecture", "Mlp"), ("weights", weights)),
            "unknown dataset" => Form(("name", "m"), ("dataset_id", Guid.NewGuid().ToString()), ("weights", weights)),
            "missing weights" => Form(("name", "m"), ("dataset_id", dataset)),
            "bad architecture name" => Form(("name", "m"), ("dataset_id", dataset), ("architecture", "Transformer"), ("weights", weights)),
            "bad recipe" => Form(("name", "m"), ("dataset_id", dataset), ("recipe", "{\"epochs\": -1}"), ("weights", weights)),
            "bad augmentation" => Form(("name", "m"), ("dataset_id", dataset), ("recipe", "{\"augmentation\": {\"padding\": -3}}"), ("weights", weights)),
            "TorchScript as architecture" => Form(("name", "m"), ("dataset_id", dataset), ("architecture", "TorchScript"), ("weights", weights)),
            // Enum.TryParse would OR the two into SmallCnn.
            "architectures listed" => Form(("name", "m"), ("dataset_id", dataset), ("architecture", "Mlp, SmallCnn"), ("weights", weights)),
            "spec of a model too large to build" => Form(("name", "m"), ("dataset_id", dataset), ("weights", SpecOnly(
                """{"architecture":"Mlp","inputShape":[1000000],"outputs":10,"width":4096}"""))),
            "NaN weights" => Form(("name", "m"), ("dataset_id", dataset), ("weights", WithBias(weights, float.NaN))),
            "infinite weights" => Form(("name", "m"), ("dataset_id", dataset), ("weights", WithBias(weights, float.NegativeInfinity))),
            "broken model for other images" => Form(("name", "m"), ("dataset_id", dataset), ("weights", BrokenModelForOtherImages())),
            "empty augmentation" => Form(("name", "m"), ("dataset_id", dataset), ("recipe", "{\"augmentation\": {}}"), ("weights", weights)),
            "unknown augmentation field" => Form(("name", "m"), ("dataset_id", dataset), ("recipe", "{\"augmentation\": {\"rotate\": true}}"), ("weights", weights)),
            _ => throw new ArgumentException(name),
        };
        var before = (await client.GetFromJsonAsync<JsonElement>("/v1/models")).GetProperty("total").GetInt32();

        var response = await client.PostAsync("/v1/models", form);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(before, (await client.GetFromJsonAsync<JsonElement>("/v1/models")).GetProperty("total").GetInt32());
    }

    public static TheoryData<string, string, int, string> RequestBodies => new()
    {
        { "unknown field", """{"subjectIds":["a"],"sneaky":true}""", 400, "" },
        { "not json", """{"subjectIds":[""", 400, "" },
        { "wrong type", """{"subjectIds":"a"}""", 400, "" },
        { "two target kinds", """{"subjectIds":["a"],"sampleIds":["b"]}""", 422, "exactly one" },
        { "no target", """{}""", 422, "exactly one" },
        { "empty ids", """{"subjectIds":[]}""", 422, "empty" },
        { "blank id", """{"subjectIds":[" "]}""", 422, "1 to 200 characters" },
        { "class without models", """{"class":1}""", 422, "needs modelIds" },
        { "unknown method", """{"subjectIds":["a"],"method":"magic"}""", 422, "method 'magic'" },
        { "due date in the past", """{"subjectIds":["a"],"dueAt":"2001-01-01T00:00:00Z"}""", 422, "past" },
        { "reason too long", "{\"subjectIds\":[\"a\"],\"reason\":\"" + new string('x', 2001) + "\"}", 422, "reason is longer" },
    };

    [Theory]
    [MemberData(nameof(RequestBodies))]
    public async Task CreateRequest_BadBody_Answers4xxProblemAndRecordsNothing(string name, string json, int status, string detail)
    {
        _ = name;
        using var client = fixture.Service.Admin();
        var before = (await client.GetFromJsonAsync<JsonElement>("/v1/deletion-requests")).GetProperty("total").GetInt32();

        var response = await client.PostAsync("/v1/deletion-requests", new StringContent(json, Encoding.UTF8, "application/json"));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(before, (await client.GetFromJsonAsync<JsonElement>("/v1/deletion-requests")).GetProperty("total").GetInt32());
    }

    [Theory]
    [InlineData("/v1/deletion-requests?pageSize=0")]
    [InlineData("/v1/deletion-requests?pageSize=100000")]
    [InlineData("/v1/deletion-requests?status=bogus")]
    [InlineData("/v1/datasets?page=0")]
    [InlineData("/v1/datasets?page=2147483647&pageSize=200")]
    [InlineData("/v1/audit?pageSize=-1")]
    public async Task List_BadQuery_Answers400Problem(string path)
    {
        using var client = fixture.Service.Admin();
        var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("/v1/datasets/00000000-0000-0000-0000-000000000001")]
    [InlineData("/v1/models/00000000-0000-0000-0000-000000000001/versions")]
    [InlineData("/v1/deletion-requests/00000000-0000-0000-0000-000000000001")]
    [InlineData("/v1/models/00000000-0000-0000-0000-000000000001/versions/7/weights")]
    public async Task Get_UnknownId_Answers404(string path)
    {
        using var client = fixture.Service.Admin();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(path)).StatusCode);
    }

    [Theory]
    [InlineData("sampleIds", "train-3", "train-no-such-sample")]
    [InlineData("sampleIds", "train-4", "test-5")]
    [InlineData("subjectIds", "subject-2", "subject-nobody")]
    public async Task CreateRequest_SomeTargetsInNoModelsTrainingData_Answers422NamingThemAndNothingRuns(string field, string known, string unknown)
    {
        using var client = fixture.Service.Admin();
        var model = await (await ApiCalls.RegisterModelAsync(client, fixture.DatasetId, FashionMnist.TrainedModel(300, 100, epochs: 1, width: 8)))
            .EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        var body = new Dictionary<string, object> { [field] = new[] { known, unknown }, ["modelIds"] = new[] { model.GetProperty("id").GetGuid() } };

        var response = await client.PostAsJsonAsync("/v1/deletion-requests", body);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var reason = problem.GetProperty("detail").GetString()!;
        Assert.Contains(unknown, reason, StringComparison.Ordinal);
        Assert.DoesNotContain(known, reason, StringComparison.Ordinal);
        // The receipt stays, as rejected, for the record.
        var stored = await client.GetFromJsonAsync<JsonElement>($"/v1/deletion-requests/{problem.GetProperty("requestId").GetGuid()}");
        Assert.Equal("rejected", stored.GetProperty("status").GetString());
        var versions = await client.GetFromJsonAsync<JsonElement>($"/v1/models/{model.GetProperty("id").GetGuid()}/versions");
        Assert.Single(versions.GetProperty("versions").EnumerateArray());
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/", "non-public address")]
    [InlineData("http://localhost:5080/v1/admin/tenants", "loopback")]
    [InlineData("ftp://example.com/", "absolute http or https")]
    public async Task CreateWebhook_NonPublicOrOddTarget_Answers400ProblemAndStoresNothing(string url, string detail)
    {
        using var client = fixture.Service.Admin();

        var response = await client.PostAsJsonAsync("/v1/webhooks", new { url });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(url, await client.GetStringAsync("/v1/webhooks"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Auth_MalformedKey_Answers401Problem()
    {
        using var client = fixture.Service.Client();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "uk_" + new string('z', 500));
        var response = await client.GetAsync("/v1/datasets");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
