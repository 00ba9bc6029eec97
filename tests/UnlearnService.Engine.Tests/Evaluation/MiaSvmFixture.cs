using System.Text.Json;

namespace UnlearnService.Engine.Tests.Evaluation;

/// <summary>scikit-learn's results on synthetic MIA features (Fixtures/make_mia_svm_fixture.py made them).</summary>
internal sealed record MiaSvmFixtureCase
{
    public required string Name { get; init; }
    public required string Note { get; init; }
    public required int Dimension { get; init; }
    public required double Gamma { get; init; }
    public required float[] Members { get; init; }
    public required float[] NonMembers { get; init; }
    public required float[] Targets { get; init; }
    public required int[] Predictions { get; init; }
    public required double[] Decision { get; init; }
    public required int[] NSupport { get; init; }
    public required int NIter { get; init; }
    public required double Intercept { get; init; }
    public required double ShadowAccuracy { get; init; }

    public int MemberCount => Members.Length / Dimension;
    public int NonMemberCount => NonMembers.Length / Dimension;
    public int TargetCount => Targets.Length / Dimension;

    /// <summary>Members then non-members, widened to double as scikit-learn widened them.</summary>
    public double[] TrainingFeatures() => [.. Members.Select(v => (double)v), .. NonMembers.Select(v => (double)v)];

    public bool[] TrainingLabels() => [.. Enumerable.Repeat(true, MemberCount), .. Enumerable.Repeat(false, NonMemberCount)];

    public double[] TargetFeatures() => [.. Targets.Select(v => (double)v)];

    public double SklearnEfficacy => 100.0 * Predictions.Count(p => p == 0) / Predictions.Length;
}

internal static class MiaSvmFixture
{
    private static readonly Lazy<IReadOnlyList<MiaSvmFixtureCase>> Loaded = new(() =>
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "mia_svm_sklearn.json");
        using var stream = File.OpenRead(path);
        using var document = JsonDocument.Parse(stream);
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
        return document.RootElement.GetProperty("cases").Deserialize<MiaSvmFixtureCase[]>(options)!;
    });

    public static IReadOnlyList<MiaSvmFixtureCase> Cases => Loaded.Value;

    public static MiaSvmFixtureCase Get(string name) => Cases.Single(c => c.Name == name);

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases)
        {
            data.Add(c.Name);
        }

        return data;
    }
}
