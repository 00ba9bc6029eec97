namespace UnlearnService.Tests.Infrastructure;

public static class TempFolder
{
    /// <summary>A new empty folder under the system temp directory.</summary>
    public static string Create(string purpose)
    {
        var path = Path.Combine(Path.GetTempPath(), "unlearn-tests", $"{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }
}
