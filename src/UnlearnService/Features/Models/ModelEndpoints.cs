using System.Security.Claims;
using System.Text.Json;
using Hangfire;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UnlearnService.Data;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Formats;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;
using UnlearnService.Errors;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Datasets;
using UnlearnService.Features.Runs;
using UnlearnService.Features.Tenants;
using UnlearnService.Hosting;
using UnlearnService.Storage;

namespace UnlearnService.Features.Models;

internal static class ModelEndpoints
{
    static readonly HashSet<string> FieldNames = ["name", "dataset_id", "format", "architecture", "width", "depth", "recipe"];
    static readonly HashSet<string> FileNames = ["weights"];
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IEndpointRouteBuilder MapModelEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/models").WithTags("Models");
        group.MapPost("/", Register).WithName("RegisterModel").RequireAuthorization(Scopes.ModelsWrite)
            .WithMetadata(new Microsoft.AspNetCore.Mvc.DisableRequestSizeLimitAttribute())
            .WithSummary("Register a zoo model trained on a registered dataset, with its safetensors weights (version 1).")
            .WithDescription("""
                Fields: name, dataset_id, format = safetensors (default) | torchscript, and for safetensors the architecture unless the
                weights' metadata holds it (as `unlearn train` writes): architecture = Mlp | SmallCnn | ResNet18, optional width and depth;
                optional recipe (JSON training options, for Retrain). File: weights (a safetensors state dict with PyTorch names, or a
                TorchScript archive from torch.jit.save). The weights are loaded, and run on one sample, to validate them.
                """)
            .Accepts<IFormFile>("multipart/form-data")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        group.MapGet("/", List).WithName("ListModels").RequireAuthorization(Scopes.ModelsRead).WithSummary("The tenant's models, newest first.");
        group.MapGet("/{id:guid}", Get).WithName("GetModel").RequireAuthorization(Scopes.ModelsRead).WithSummary("A model and its current version.");
        group.MapGet("/{id:guid}/versions", Versions).WithName("GetModelLineage").RequireAuthorization(Scopes.ModelsRead)
            .WithSummary("The lineage: every version with its parent and the run (and requests) that produced it.");
        group.MapGet("/{id:guid}/versions/{number:int}/weights", Weights).WithName("DownloadModelWeights").RequireAuthorization(Scopes.ModelsRead)
            .WithSummary("Download a version's safetensors weights (audited).")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream");
        return app;
    }

    static async Task<Results<Created<ModelResponse>, ProblemHttpResult>> Register(HttpRequest request, UnlearnDbContext db, BlobStore blobs,
        IOptions<LimitsOptions> limits, IBackgroundJobClient jobs, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        await using var upload = await MultipartUpload.ReadAsync(request, FieldNames, FileNames, limits.Value.MaxModelUploadBytes, blobs.NewTempFile, cancellationToken);
        var name = upload.Field("name");
        if (name.Length > 200) throw new ProblemException(StatusCodes.Status400BadRequest, "The name is longer than 200 characters.");
        if (!Guid.TryParse(upload.Field("dataset_id"), out var datasetId))
            throw new ProblemException(StatusCodes.Status400BadRequest, "dataset_id is not a valid id.");
        var dataset = await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.Id == datasetId && d.TenantId == caller.TenantId, cancellationToken)
            ?? throw new ProblemException(StatusCodes.Status422UnprocessableEntity, $"Dataset {datasetId} does not exist.");
        var format = upload.Fields.GetValueOrDefault("format")?.Trim().ToLowerInvariant() ?? "safetensors";
        var spec = format switch
        {
            "safetensors" => SpecFrom(upload, dataset),
            "torchscript" => new ModelSpec
            {
                Architecture = Architecture.TorchScript, InputShape = dataset.SampleShape.Split('x').Select(long.Parse).ToArray(),
                Outputs = dataset.Task == "regression" ? 1 : dataset.ClassCount,
                Task = dataset.Task == "regression" ? TaskKind.Regression : TaskKind.Classification,
            },
            _ => throw new ProblemException(StatusCodes.Status400BadRequest, $"format '{format}' is not safetensors or torchscript."),
        };
        var recipe = RecipeFrom(upload);

        LoadedModel loaded;
        try
        {
            if (format == "torchscript")
                await TorchScriptCheck.EnsureSafeAsync(HostCommand.Of(typeof(CommandRunner).Assembly), upload.FilePath("weights"), spec!.InputShape,
                    limits.Value.TorchScriptCheckTimeout, cancellationToken);
            using var weights = File.OpenRead(upload.FilePath("weights"));
            loaded = format == "torchscript" ? ModelArchive.Load(weights, spec!) : ModelFile.Load(weights, spec);
        }
        catch (Exception e) when (e is ModelFormatException or SafeTensorsFormatException)
        {
            throw WeightsDoNotLoad(e);
        }
        using (loaded)
        {
            spec = loaded.Spec;
            recipe ??= loaded.Recipe;
            // The dataset's shape first: a mismatch is the likelier mistake, and it costs nothing to find.
            var expectedShape = dataset.SampleShape.Split('x').Select(long.Parse).ToArray();
            if (!spec.InputShape.SequenceEqual(expectedShape))
                throw new ProblemException(StatusCodes.Status422UnprocessableEntity, $"The model takes inputs [{string.Join(", ", spec.InputShape)}] but the dataset's samples are [{string.Join(", ", expectedShape)}].");
            if (dataset.Task == "classification" && spec.Outputs != dataset.ClassCount)
                throw new ProblemException(StatusCodes.Status422UnprocessableEntity, $"The model has {spec.Outputs} outputs but the dataset has {dataset.ClassCount} classes.");
            if (recipe?.Augmentation is not null && expectedShape.Length != 3)
                throw new ProblemException(StatusCodes.Status422UnprocessableEntity, "The recipe augments images, but the dataset's samples are not images [channels, height, width].");
            try
            {
                CheckOutputs(loaded);
            }
            catch (ModelFormatException e)
            {
                throw WeightsDoNotLoad(e);
            }

            var modelId = Guid.NewGuid();
            var versionId = Guid.NewGuid();
            var stored = await blobs.WriteAsync(caller.TenantId, "models", $"{versionId:N}.{ModelArchive.Extension(spec)}",
                stream => { ModelArchive.Save(stream, loaded, recipe); return Task.CompletedTask; }, cancellationToken);
            var model = new ModelRecord
            {
                Id = modelId, TenantId = caller.TenantId, Name = name, DatasetId = datasetId, CreatedAt = DateTimeOffset.UtcNow,
                SpecJson = JsonSerializer.Serialize(spec, Json), RecipeJson = recipe is null ? null : JsonSerializer.Serialize(recipe, Json),
            };
            var version = new ModelVersion
            {
                Id = versionId, TenantId = caller.TenantId, ModelId = modelId, Number = 1, Sha256 = stored.Sha256, BlobPath = stored.Path,
                SizeBytes = stored.SizeBytes, Status = VersionStatus.Current, CreatedAt = DateTimeOffset.UtcNow,
            };
            db.Models.Add(model);
            db.ModelVersions.Add(version);
            db.Record(caller.TenantId, caller.Actor, "model.registered", "model", modelId, new { name, datasetId, version = 1, version.Sha256 });
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch
            {
                blobs.Delete(stored.Path);
                throw;
            }
            // SSD's training-set importance is per version: computing it now keeps every later request fast.
            jobs.Enqueue<ImportanceJob>(j => j.ComputeAsync(versionId, null, CancellationToken.None));
            return TypedResults.Created($"/v1/models/{modelId}", ModelResponse.From(model, version));
        }
    }

    static ProblemException WeightsDoNotLoad(Exception e) =>
        new(StatusCodes.Status422UnprocessableEntity, $"The weights do not load: {e.Message}");

    /// <summary>Runs the model on one zero sample of the spec's shape: it must answer [1, outputs].</summary>
    static void CheckOutputs(LoadedModel loaded)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var noGrad = TorchSharp.torch.no_grad();
        loaded.Model.eval();
        TorchSharp.torch.Tensor output;
        try
        {
            output = loaded.Model.forward(TorchSharp.torch.zeros([1, .. loaded.Spec.InputShape]));
        }
        catch (Exception e) when (e is System.Runtime.InteropServices.ExternalException or ArgumentException or InvalidOperationException)
        {
            throw new ModelFormatException($"the model fails on a sample of shape [{string.Join(", ", loaded.Spec.InputShape)}]: {e.Message.Split('\n')[0]}");
        }
        if (!output.shape.SequenceEqual([1L, loaded.Spec.Outputs]))
        {
            throw new ModelFormatException($"the model answers shape [{string.Join(", ", output.shape)}] where [1, {loaded.Spec.Outputs}] is needed.");
        }
        // NaN or infinite weights would fail every later run (as a diverged method); refuse them at the door instead.
        var broken = ModelState.FirstNonFinite(loaded.Model);
        if (broken is not null || !TorchSharp.torch.isfinite(output).all().item<bool>())
        {
            throw new ModelFormatException(broken is not null
                ? $"'{broken}' holds NaN or infinite values."
                : "the model's outputs are NaN or infinite on an all-zero sample.");
        }
    }

    static ModelSpec? SpecFrom(MultipartUpload upload, DatasetRecord dataset)
    {
        if (!upload.Fields.TryGetValue("architecture", out var text)) return null;
        // TorchScript is chosen by format=torchscript: its weights are an archive, not a state dict.
        if (!EnumNames.TryParse<Architecture>(text.Trim(), out var architecture) || architecture == Architecture.TorchScript)
            throw new ProblemException(StatusCodes.Status400BadRequest, $"architecture '{text}' is not Mlp, SmallCnn or ResNet18.");
        int? Number(string field) => upload.Fields.TryGetValue(field, out var v)
            ? int.TryParse(v, out var n) ? n : throw new ProblemException(StatusCodes.Status400BadRequest, $"{field} must be a whole number.")
            : null;
        var task = dataset.Task == "regression" ? TaskKind.Regression : TaskKind.Classification;
        var spec = new ModelSpec
        {
            Architecture = architecture, InputShape = dataset.SampleShape.Split('x').Select(long.Parse).ToArray(),
            Outputs = task == TaskKind.Classification ? dataset.ClassCount : 1, Task = task, Width = Number("width"), Depth = Number("depth"),
        };
        try
        {
            spec.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ProblemException(StatusCodes.Status422UnprocessableEntity, e.Message);
        }
        return spec;
    }

    static TrainingOptions? RecipeFrom(MultipartUpload upload)
    {
        if (!upload.Fields.TryGetValue("recipe", out var json)) return null;
        try
        {
            var recipe = JsonSerializer.Deserialize<TrainingOptions>(json, new JsonSerializerOptions(Json) { UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow })
                ?? throw new ProblemException(StatusCodes.Status400BadRequest, "recipe is null.");
            recipe.Validate();
            return recipe;
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new ProblemException(StatusCodes.Status400BadRequest, $"recipe is not valid training options: {e.Message}");
        }
    }

    static async Task<Results<Ok<Page<ModelResponse>>, ValidationProblem>> List(UnlearnDbContext db, ClaimsPrincipal user,
        int page = 1, int pageSize = 50, CancellationToken cancellationToken = default)
    {
        if (Paging.Invalid(page, pageSize) is { } error) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["page"] = [error] });
        var tenant = Caller.From(user).TenantId;
        var query = from m in db.Models.AsNoTracking()
                    where m.TenantId == tenant
                    join v in db.ModelVersions.AsNoTracking() on m.Id equals v.ModelId
                    where v.Status == VersionStatus.Current
                    orderby m.CreatedAt descending, m.Id
                    select new { m, v };
        return TypedResults.Ok(await query.ToPageAsync(page, pageSize, x => ModelResponse.From(x.m, x.v), cancellationToken));
    }

    static async Task<Results<Ok<ModelResponse>, NotFound>> Get(Guid id, UnlearnDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(user).TenantId;
        var model = await db.Models.AsNoTracking().SingleOrDefaultAsync(m => m.Id == id && m.TenantId == tenant, cancellationToken);
        if (model is null) return TypedResults.NotFound();
        var current = await db.ModelVersions.AsNoTracking().SingleAsync(v => v.ModelId == id && v.Status == VersionStatus.Current, cancellationToken);
        return TypedResults.Ok(ModelResponse.From(model, current));
    }

    static async Task<Results<Ok<LineageResponse>, NotFound>> Versions(Guid id, UnlearnDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(user).TenantId;
        if (!await db.Models.AnyAsync(m => m.Id == id && m.TenantId == tenant, cancellationToken)) return TypedResults.NotFound();
        var versions = await db.ModelVersions.AsNoTracking().Where(v => v.ModelId == id).OrderBy(v => v.Number).ToListAsync(cancellationToken);
        var runIds = versions.Where(v => v.ProducedByRunId is not null).Select(v => v.ProducedByRunId!.Value).ToList();
        var runs = await db.Runs.AsNoTracking().Where(r => runIds.Contains(r.Id)).ToDictionaryAsync(r => r.Id, cancellationToken);
        var requests = await db.RequestModels.AsNoTracking().Where(rm => rm.RunId != null && runIds.Contains(rm.RunId.Value))
            .ToListAsync(cancellationToken);
        var numbers = versions.ToDictionary(v => v.Id, v => v.Number);
        return TypedResults.Ok(new LineageResponse(id, versions.Select(v => new VersionResponse(
            v.Id, v.Number, v.Sha256, v.SizeBytes, v.Status, v.CreatedAt,
            v.ParentVersionId is { } parent ? numbers[parent] : null,
            v.ProducedByRunId is { } runId && runs.TryGetValue(runId, out var run)
                ? new ProducingRun(run.Id, run.Method, run.ForgetCount, requests.Where(r => r.RunId == run.Id).Select(r => r.RequestId).ToList())
                : null,
            v.ImportanceBlobPath is not null)).ToList()));
    }

    static async Task<IResult> Weights(Guid id, int number, UnlearnDbContext db, BlobStore blobs, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        var version = await db.ModelVersions.AsNoTracking()
            .SingleOrDefaultAsync(v => v.ModelId == id && v.Number == number && v.TenantId == caller.TenantId, cancellationToken);
        if (version is null) return TypedResults.NotFound();
        db.Record(caller.TenantId, caller.Actor, "model_version.weights_downloaded", "model_version", version.Id, new { modelId = id, number, version.Sha256 });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Stream(blobs.OpenRead(version.BlobPath), "application/octet-stream", $"model-{id}-v{number}{Path.GetExtension(version.BlobPath)}",
            entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{version.Sha256}\""));
    }
}

internal sealed record ModelResponse(Guid Id, string Name, Guid DatasetId, JsonElement Spec, JsonElement? Recipe, CurrentVersion CurrentVersion, DateTimeOffset CreatedAt)
{
    public static ModelResponse From(ModelRecord m, ModelVersion v) => new(m.Id, m.Name, m.DatasetId,
        JsonDocument.Parse(m.SpecJson).RootElement, m.RecipeJson is null ? null : JsonDocument.Parse(m.RecipeJson).RootElement,
        new CurrentVersion(v.Id, v.Number, v.Sha256), m.CreatedAt);
}

internal sealed record CurrentVersion(Guid Id, int Number, string Sha256);

internal sealed record LineageResponse(Guid ModelId, IReadOnlyList<VersionResponse> Versions);

/// <summary>A version in the lineage; ImportanceCached tells whether SSD's training-set importance is ready for it.</summary>
internal sealed record VersionResponse(Guid Id, int Number, string Sha256, long SizeBytes, string Status, DateTimeOffset CreatedAt, int? ParentNumber,
    ProducingRun? ProducedBy, bool ImportanceCached);

internal sealed record ProducingRun(Guid RunId, string? Method, int ForgetCount, IReadOnlyList<Guid> RequestIds);
