using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using TorchSharp;
using UnlearnService.Data;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Training;
using UnlearnService.Features.Datasets;
using UnlearnService.Features.Models;
using UnlearnService.Storage;
using static TorchSharp.torch;

namespace UnlearnService.Features.Runs;

/// <summary>A model version and its dataset loaded for the engine, on a device. Jobs load, work, dispose: no tensor outlives a job.</summary>
internal sealed class RunWorkspace : IDisposable
{
    RunWorkspace(ModelRecord model, ModelVersion version, DatasetRecord datasetRecord, Dataset dataset, LoadedModel loaded, DeviceData data, TrainingOptions? recipe)
    {
        Model = model;
        Version = version;
        DatasetRecord = datasetRecord;
        Dataset = dataset;
        Loaded = loaded;
        Data = data;
        Recipe = recipe;
    }

    public ModelRecord Model { get; }
    public ModelVersion Version { get; }
    public DatasetRecord DatasetRecord { get; }
    public Dataset Dataset { get; }
    public LoadedModel Loaded { get; }
    public DeviceData Data { get; }
    public TrainingOptions? Recipe { get; }

    public static async Task<RunWorkspace> LoadAsync(UnlearnDbContext db, BlobStore blobs, Guid versionId, Device device, CancellationToken cancellationToken)
    {
        var version = await db.ModelVersions.AsNoTracking().SingleAsync(v => v.Id == versionId, cancellationToken);
        var model = await db.Models.AsNoTracking().SingleAsync(m => m.Id == version.ModelId, cancellationToken);
        var datasetRecord = await db.Datasets.AsNoTracking().SingleAsync(d => d.Id == model.DatasetId, cancellationToken);
        var spec = JsonSerializer.Deserialize<ModelSpec>(model.SpecJson, ModelEndpoints.Json)!;
        var recipe = model.RecipeJson is null ? null : JsonSerializer.Deserialize<TrainingOptions>(model.RecipeJson, ModelEndpoints.Json);
        Dataset dataset;
        await using (var stream = blobs.OpenRead(datasetRecord.BlobPath))
            dataset = DatasetBlob.Read(stream, datasetRecord.ClassCount);
        LoadedModel? loaded = null;
        try
        {
            await using (var stream = blobs.OpenRead(version.BlobPath))
                loaded = ModelArchive.Load(stream, spec);
            // Either step can fail (a device out of memory): what was loaded so far must not outlive the attempt.
            loaded.Model.to(device);
            return new RunWorkspace(model, version, datasetRecord, dataset, loaded, new DeviceData(dataset, device), recipe);
        }
        catch
        {
            loaded?.Dispose();
            dataset.Dispose();
            throw;
        }
    }

    /// <summary>Sample ids this model's earlier completed runs forgot: never part of a later retain set.</summary>
    public static async Task<HashSet<string>> ForgottenInLineageAsync(UnlearnDbContext db, Guid modelId, CancellationToken cancellationToken)
    {
        var lists = await db.Runs.AsNoTracking().Where(r => r.ModelId == modelId && r.Status == RunStatus.Completed && r.ForgetSampleIdsJson != null)
            .Select(r => r.ForgetSampleIdsJson!).ToListAsync(cancellationToken);
        return lists.SelectMany(l => JsonSerializer.Deserialize<string[]>(l)!).ToHashSet(StringComparer.Ordinal);
    }

    public void Dispose()
    {
        Data.Dispose();
        Loaded.Dispose();
        Dataset.Dispose();
    }
}
