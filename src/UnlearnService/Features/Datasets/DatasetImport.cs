using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using TorchSharp;
using UnlearnService.Engine.Data;
using UnlearnService.Engine.Formats;
using static TorchSharp.torch;

using UnlearnService.Errors;

namespace UnlearnService.Features.Datasets;

/// <summary>
/// A multipart upload read as a stream: small text fields into a dictionary, file parts copied to scratch files
/// with a running byte budget (413 once exceeded). Unknown part names are refused.
/// </summary>
internal sealed class MultipartUpload : IAsyncDisposable
{
    public Dictionary<string, string> Fields { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Files { get; } = new(StringComparer.Ordinal);

    public static async Task<MultipartUpload> ReadAsync(HttpRequest request, IReadOnlySet<string> fieldNames, IReadOnlySet<string> fileNames,
        long maxBytes, Func<string> tempFile, CancellationToken cancellationToken)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType) || !contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            throw new ProblemException(StatusCodes.Status415UnsupportedMediaType, "Send multipart/form-data.");
        var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
        if (string.IsNullOrEmpty(boundary) || boundary.Length > 200)
            throw new ProblemException(StatusCodes.Status400BadRequest, "The multipart boundary is missing or too long.");

        var upload = new MultipartUpload();
        try
        {
            var reader = new MultipartReader(boundary, request.Body) { HeadersLengthLimit = 16 * 1024 };
            long total = 0;
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.DispositionType.Equals("form-data"))
                    throw new ProblemException(StatusCodes.Status400BadRequest, "Every part needs 'Content-Disposition: form-data'.");
                var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                if (upload.Fields.ContainsKey(name) || upload.Files.ContainsKey(name))
                    throw new ProblemException(StatusCodes.Status400BadRequest, $"The part '{name}' appears twice.");
                if (fileNames.Contains(name))
                {
                    var path = tempFile();
                    upload.Files[name] = path;
                    await using var file = File.Create(path);
                    var buffer = new byte[81920];
                    int read;
                    while ((read = await section.Body.ReadAsync(buffer, cancellationToken)) > 0)
                    {
                        total += read;
                        if (total > maxBytes)
                            throw new ProblemException(StatusCodes.Status413PayloadTooLarge, $"The upload exceeds the limit of {maxBytes} bytes.");
                        await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    }
                }
                else if (fieldNames.Contains(name))
                {
                    using var text = new StreamReader(section.Body);
                    var buffer = new char[4097];
                    var length = await text.ReadBlockAsync(buffer, cancellationToken);
                    if (length > 4096) throw new ProblemException(StatusCodes.Status400BadRequest, $"The field '{name}' is longer than 4096 characters.");
                    upload.Fields[name] = new string(buffer, 0, length);
                }
                else
                {
                    throw new ProblemException(StatusCodes.Status400BadRequest,
                        $"Unknown part '{name}'. Expected fields {string.Join(", ", fieldNames)} and files {string.Join(", ", fileNames)}.");
                }
            }
            return upload;
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            await upload.DisposeAsync();
            throw new ProblemException(StatusCodes.Status400BadRequest, $"The multipart body is malformed: {e.Message}");
        }
        catch (InvalidDataException e)
        {
            await upload.DisposeAsync();
            throw new ProblemException(StatusCodes.Status400BadRequest, $"The multipart body is malformed: {e.Message}");
        }
        catch
        {
            await upload.DisposeAsync();
            throw;
        }
    }

    public string Field(string name) =>
        Fields.TryGetValue(name, out var value) && value.Trim().Length > 0 ? value.Trim() : throw new ProblemException(StatusCodes.Status400BadRequest, $"The field '{name}' is required.");

    public string FilePath(string name) =>
        Files.TryGetValue(name, out var path) ? path : throw new ProblemException(StatusCodes.Status400BadRequest, $"The file part '{name}' is required.");

    public ValueTask DisposeAsync()
    {
        foreach (var path in Files.Values)
        {
            try { File.Delete(path); }
            catch (IOException) { /* scratch space; a leftover is harmless */ }
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>The service's own dataset blob: safetensors with x, y, split and the ids in the metadata.</summary>
internal static class DatasetBlob
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Write(Stream stream, Dataset dataset)
    {
        using var split = torch.tensor(dataset.Splits.Select(s => (byte)s).ToArray());
        var metadata = new Dictionary<string, string>
        {
            ["sample_ids"] = JsonSerializer.Serialize(dataset.SampleIds, Json),
            ["subject_ids"] = JsonSerializer.Serialize(dataset.SubjectIds, Json),
        };
        if (dataset.ClassNames is { } names) metadata["class_names"] = JsonSerializer.Serialize(names, Json);
        SafeTensors.Write(stream, [("x", dataset.Features), ("y", dataset.Targets), ("split", split)], metadata);
    }

    public static Dataset Read(Stream stream, int classCount)
    {
        var dataset = SafeTensorsDatasetImporter.Read(stream, "sample", new DatasetImportLimits { MaxBytes = 1L << 40, MaxSamples = 50_000_000 });
        if (dataset.Task != TaskKind.Classification || dataset.ClassCount >= classCount) return dataset;
        // The stored class count may exceed the labels still present (e.g. after a class was forgotten and purged).
        using (dataset)
            return new Dataset(dataset.Features.clone(), dataset.Targets.clone(), dataset.SampleIds, dataset.SubjectIds, dataset.Splits,
                dataset.Task, classCount, dataset.ClassNames);
    }
}
