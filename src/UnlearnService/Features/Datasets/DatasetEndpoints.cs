using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using UnlearnService.Data;
using UnlearnService.Engine.Data;
using UnlearnService.Features.Audit;
using UnlearnService.Features.Tenants;
using UnlearnService.Hosting;
using UnlearnService.Storage;

using UnlearnService.Errors;

namespace UnlearnService.Features.Datasets;

internal static class DatasetEndpoints
{
    static readonly HashSet<string> FieldNames = ["name", "format", "target", "task", "subject_size"];
    static readonly HashSet<string> FileNames = ["file", "train_images", "train_labels", "test_images", "test_labels", "validation_images", "validation_labels", "subjects"];

    public static IEndpointRouteBuilder MapDatasetEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/datasets").WithTags("Datasets");
        group.MapPost("/", Create).WithName("CreateDataset").RequireAuthorization(Scopes.ModelsWrite)
            .WithMetadata(new Microsoft.AspNetCore.Mvc.DisableRequestSizeLimitAttribute()) // our own limit applies, with a clear 413
            .WithSummary("Import a dataset from a streamed multipart upload.")
            .WithDescription("""
                Fields: name; format = idx | safetensors | csv; for csv: target (column, default label) and task (classification | regression);
                subject_size (optional: give training samples without a subject synthetic subjects of this many samples).
                Files: idx → train_images, train_labels, optional test_images, test_labels, optional validation_images,
                validation_labels (non-members other than the test set, needed to tune sample and subject forgetting; gzipped or not)
                and subjects (CSV 'sample_id,subject_id'); safetensors → file (tensors x, y, optional split; ids in __metadata__); csv → file
                (columns id, subject, split, the target, features).
                """)
            .Accepts<IFormFile>("multipart/form-data")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        group.MapGet("/{id:guid}", Get).WithName("GetDataset").RequireAuthorization(Scopes.ModelsRead).WithSummary("A dataset's summary.");
        group.MapGet("/", List).WithName("ListDatasets").RequireAuthorization(Scopes.ModelsRead).WithSummary("The tenant's datasets, newest first.");
        return app;
    }

    static async Task<Results<Created<DatasetResponse>, ProblemHttpResult>> Create(HttpRequest request, UnlearnDbContext db, BlobStore blobs,
        IOptions<LimitsOptions> limits, ClaimsPrincipal user, ILogger<DatasetRecord> logger, CancellationToken cancellationToken)
    {
        var caller = Caller.From(user);
        await using var upload = await MultipartUpload.ReadAsync(request, FieldNames, FileNames, limits.Value.MaxDatasetUploadBytes, blobs.NewTempFile, cancellationToken);
        var name = upload.Field("name");
        if (name.Length > 200) throw new ProblemException(StatusCodes.Status400BadRequest, "The name is longer than 200 characters.");
        var format = upload.Field("format").ToLowerInvariant();
        var importLimits = new DatasetImportLimits { MaxBytes = limits.Value.MaxDatasetUploadBytes, MaxSamples = limits.Value.MaxDatasetSamples };
        using var dataset = Import(upload, format, importLimits);
        ValidateForService(dataset);

        var id = Guid.NewGuid();
        var stored = await blobs.WriteAsync(caller.TenantId, "datasets", $"{id:N}.safetensors",
            stream => { DatasetBlob.Write(stream, dataset); return Task.CompletedTask; }, cancellationToken);
        var labels = dataset.Task == TaskKind.Classification ? dataset.Targets.data<long>().ToArray() : null;
        var record = new DatasetRecord
        {
            Id = id, TenantId = caller.TenantId, Name = name, Format = format, Task = dataset.Task.ToString().ToLowerInvariant(),
            ClassCount = dataset.ClassCount, SampleShape = string.Join('x', dataset.SampleShape), SampleCount = dataset.Count,
            TrainCount = dataset.Splits.Count(s => s == Split.Train), TestCount = dataset.Splits.Count(s => s == Split.Test),
            ValidationCount = dataset.Splits.Count(s => s == Split.Validation),
            SubjectCount = dataset.SubjectIds.Where(s => s is not null).Distinct().Count(),
            BlobPath = stored.Path, Sha256 = stored.Sha256, Salt = RandomNumberGenerator.GetBytes(32), CreatedAt = DateTimeOffset.UtcNow,
        };
        db.Datasets.Add(record);
        db.DatasetSamples.AddRange(Enumerable.Range(0, dataset.Count).Select(i => new DatasetSample
        {
            DatasetId = id, Index = i, SampleId = dataset.SampleIds[i], SubjectId = dataset.SubjectIds[i], Split = (byte)dataset.Splits[i],
            Label = labels is null ? 0 : (int)labels[i],
        }));
        db.Record(caller.TenantId, caller.Actor, "dataset.created", "dataset", id, new { name, format, record.SampleCount, record.Sha256 });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch
        {
            blobs.Delete(stored.Path); // nothing half-written: no row, no blob
            throw;
        }
        logger.LogInformation("Dataset {DatasetId} imported: {Samples} samples", id, record.SampleCount);
        return TypedResults.Created($"/v1/datasets/{id}", DatasetResponse.From(record));
    }

    static Dataset Import(MultipartUpload upload, string format, DatasetImportLimits limits)
    {
        try
        {
            var dataset = format switch
            {
                "idx" => ImportIdx(upload, limits),
                "safetensors" => Read(upload.FilePath("file"), s => SafeTensorsDatasetImporter.Read(s, "sample", limits)),
                "csv" => Read(upload.FilePath("file"), s => CsvDatasetImporter.Read(s, new CsvImportOptions
                {
                    TargetColumn = upload.Fields.GetValueOrDefault("target")?.Trim() is { Length: > 0 } t ? t : "label",
                    Task = upload.Fields.GetValueOrDefault("task")?.Trim().ToLowerInvariant() switch
                    {
                        null or "" or "classification" => TaskKind.Classification,
                        "regression" => TaskKind.Regression,
                        var other => throw new ProblemException(StatusCodes.Status400BadRequest, $"task '{other}' is not classification or regression."),
                    },
                }, limits)),
                _ => throw new ProblemException(StatusCodes.Status400BadRequest, $"format '{format}' is not idx, safetensors or csv."),
            };
            if (!upload.Fields.TryGetValue("subject_size", out var size)) return dataset;
            if (!int.TryParse(size, out var samplesPerSubject) || samplesPerSubject is < 1 or > 1_000_000)
            {
                dataset.Dispose();
                throw new ProblemException(StatusCodes.Status400BadRequest, "subject_size must be a whole number between 1 and 1000000.");
            }
            using (dataset) return DatasetPreparation.AssignSubjects(dataset, samplesPerSubject);
        }
        catch (DatasetFormatException e)
        {
            throw new ProblemException(StatusCodes.Status422UnprocessableEntity, e.Message);
        }
        catch (Engine.Formats.SafeTensorsFormatException e)
        {
            throw new ProblemException(StatusCodes.Status422UnprocessableEntity, e.Message);
        }
    }

    static Dataset ImportIdx(MultipartUpload upload, DatasetImportLimits limits)
    {
        Dictionary<string, string>? subjects = null;
        if (upload.Files.TryGetValue("subjects", out var subjectsFile))
            subjects = ReadSubjects(subjectsFile);
        var streams = new List<FileStream>();
        try
        {
            var pairs = new List<IdxPair>();
            foreach (var (prefix, split) in new[] { ("train", Split.Train), ("test", Split.Test), ("validation", Split.Validation) })
            {
                // Train is required; a test or validation pair is all or nothing (FilePath names a missing half).
                if (split != Split.Train && !upload.Files.ContainsKey($"{prefix}_images") && !upload.Files.ContainsKey($"{prefix}_labels")) continue;
                streams.Add(File.OpenRead(upload.FilePath($"{prefix}_images")));
                streams.Add(File.OpenRead(upload.FilePath($"{prefix}_labels")));
                pairs.Add(new IdxPair(streams[^2], streams[^1], split, prefix));
            }
            return WithSubjects(IdxDatasetImporter.ReadPairs(pairs, limits), subjects);
        }
        finally
        {
            foreach (var stream in streams) stream.Dispose();
        }
    }

    /// <summary>subjects part: CSV lines 'sample_id,subject_id' (header optional).</summary>
    static Dictionary<string, string> ReadSubjects(string path)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (text.Trim().Length == 0 || (line == 1 && text.Trim() == "sample_id,subject_id")) continue;
            var parts = text.Split(',');
            if (parts.Length != 2 || parts[0].Trim().Length == 0 || parts[1].Trim().Length == 0)
                throw new ProblemException(StatusCodes.Status422UnprocessableEntity, $"subjects line {line}: expected 'sample_id,subject_id'.");
            if (!map.TryAdd(parts[0].Trim(), parts[1].Trim()))
                throw new ProblemException(StatusCodes.Status422UnprocessableEntity, $"subjects line {line}: sample '{parts[0].Trim()}' appears twice.");
        }
        return map;
    }

    static Dataset WithSubjects(Dataset dataset, Dictionary<string, string>? subjects)
    {
        if (subjects is null) return dataset;
        using (dataset)
        {
            var ids = dataset.SampleIds.ToHashSet(StringComparer.Ordinal);
            var unknown = subjects.Keys.Where(k => !ids.Contains(k)).Take(5).ToList();
            if (unknown.Count > 0)
                throw new ProblemException(StatusCodes.Status422UnprocessableEntity, $"subjects names unknown samples: {string.Join(", ", unknown)}.");
            return new Dataset(dataset.Features.clone(), dataset.Targets.clone(), dataset.SampleIds,
                dataset.SampleIds.Select(id => subjects.TryGetValue(id, out var s) ? s : null).ToArray(),
                dataset.Splits, dataset.Task, dataset.ClassCount, dataset.ClassNames);
        }
    }

    static Dataset Read(string path, Func<Stream, Dataset> read)
    {
        using var stream = File.OpenRead(path);
        return read(stream);
    }

    static void ValidateForService(Dataset dataset)
    {
        if (dataset.Splits.All(s => s != Split.Train))
        {
            dataset.Dispose();
            throw new ProblemException(StatusCodes.Status422UnprocessableEntity, "The dataset has no training samples.");
        }
        var tooLong = dataset.SampleIds.FirstOrDefault(id => id.Length > 200) ?? dataset.SubjectIds.FirstOrDefault(id => id is { Length: > 200 });
        if (tooLong is not null)
        {
            dataset.Dispose();
            throw new ProblemException(StatusCodes.Status422UnprocessableEntity, $"The id '{tooLong[..40]}…' is longer than 200 characters.");
        }
    }

    static async Task<Results<Ok<DatasetResponse>, NotFound>> Get(Guid id, UnlearnDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(user).TenantId;
        var record = await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.Id == id && d.TenantId == tenant, cancellationToken);
        return record is null ? TypedResults.NotFound() : TypedResults.Ok(DatasetResponse.From(record));
    }

    static async Task<Results<Ok<Page<DatasetResponse>>, ValidationProblem>> List(UnlearnDbContext db, ClaimsPrincipal user,
        int page = 1, int pageSize = 50, CancellationToken cancellationToken = default)
    {
        if (Paging.Invalid(page, pageSize) is { } error) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["page"] = [error] });
        var tenant = Caller.From(user).TenantId;
        return TypedResults.Ok(await db.Datasets.AsNoTracking().Where(d => d.TenantId == tenant).OrderByDescending(d => d.CreatedAt).ThenBy(d => d.Id)
            .ToPageAsync(page, pageSize, DatasetResponse.From, cancellationToken));
    }
}

/// <summary>A dataset's summary.</summary>
internal sealed record DatasetResponse(Guid Id, string Name, string Format, string Task, int ClassCount, string SampleShape, int SampleCount,
    int TrainCount, int TestCount, int ValidationCount, int SubjectCount, int ForgottenCount, string Sha256, DateTimeOffset CreatedAt)
{
    public static DatasetResponse From(DatasetRecord d) => new(d.Id, d.Name, d.Format, d.Task, d.ClassCount, d.SampleShape, d.SampleCount,
        d.TrainCount, d.TestCount, d.ValidationCount, d.SubjectCount, d.ForgottenCount, d.Sha256, d.CreatedAt);
}
