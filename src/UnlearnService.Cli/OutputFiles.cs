namespace UnlearnService.Cli;

/// <summary>
/// A command's output files, checked before any work (a mistyped folder should not cost a training run) and written
/// together: each goes to a temporary file beside its path first, and only when every one is complete are they moved
/// into place, so a failed write leaves every earlier output as it was (a failed move, after that, is not undone).
/// </summary>
internal sealed class OutputFiles
{
    readonly List<(string Option, string Path)> _files = [];

    /// <summary>
    /// Checks the outputs named by their options (null: not asked for): no two the same file, none an input, each in a
    /// folder that exists (created when missing) and can be written.
    /// </summary>
    public static OutputFiles Check(IEnumerable<(string Option, string? Path)> outputs, IEnumerable<(string Option, string? Path)> inputs)
    {
        var files = new OutputFiles();
        var given = inputs.Where(i => i.Path is not null).Select(i => (i.Option, Path: System.IO.Path.GetFullPath(i.Path!))).ToList();
        foreach (var (option, path) in outputs)
        {
            if (path is null) continue;
            var full = System.IO.Path.GetFullPath(path);
            if (files._files.Concat(given).FirstOrDefault(f => f.Path == full) is { Option: { } other })
                throw new ArgumentException($"{option} and {other} name the same file, {path}: give {option} a path of its own.");
            if (Directory.Exists(full) || System.IO.Path.EndsInDirectorySeparator(path))
                throw new ArgumentException($"{option} names a folder, {path}: give a file name.");
            var folder = System.IO.Path.GetDirectoryName(full)!;
            Directory.CreateDirectory(folder);
            var probe = System.IO.Path.Combine(folder, $".unlearn-write-check-{Guid.NewGuid():N}");
            try
            {
                File.WriteAllBytes(probe, []);
            }
            catch (UnauthorizedAccessException)
            {
                throw new ArgumentException($"{option}: cannot write in {folder}.");
            }
            finally
            {
                File.Delete(probe);
            }
            files._files.Add((option, full));
        }
        return files;
    }

    /// <summary>The full path given for <paramref name="option"/>, or null when it was not asked for.</summary>
    public string? PathOf(string option) => _files.FirstOrDefault(f => f.Option == option).Path;

    /// <summary>Writes every output asked for (each writer keyed by its option), all or none.</summary>
    public void WriteAll(IReadOnlyDictionary<string, Action<Stream>> writers)
    {
        var temporaries = new List<(string Temporary, string Path)>();
        try
        {
            foreach (var (option, path) in _files)
            {
                if (!writers.TryGetValue(option, out var write)) throw new InvalidOperationException($"Nothing writes {option}.");
                var temporary = $"{path}.tmp-{Guid.NewGuid():N}";
                temporaries.Add((temporary, path));
                using var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                write(stream);
            }
            foreach (var (temporary, path) in temporaries) File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            foreach (var (temporary, _) in temporaries) File.Delete(temporary);
        }
    }
}
