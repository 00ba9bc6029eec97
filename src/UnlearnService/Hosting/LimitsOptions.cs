using System.ComponentModel.DataAnnotations;
using UnlearnService.Engine.Evaluation;

namespace UnlearnService.Hosting;

/// <summary>Section "Limits": what one upload or request may contain. Over a limit is a 413 or 422, never a crash.</summary>
internal sealed class LimitsOptions
{
    public const string Section = "Limits";

    [Range(1024, long.MaxValue, ErrorMessage = "Limits:MaxDatasetUploadBytes must be at least 1024.")]
    public long MaxDatasetUploadBytes { get; set; } = 2L << 30;

    [Range(1024, long.MaxValue, ErrorMessage = "Limits:MaxModelUploadBytes must be at least 1024.")]
    public long MaxModelUploadBytes { get; set; } = 1L << 30;

    [Range(1, 50_000_000, ErrorMessage = "Limits:MaxDatasetSamples must be between 1 and 50000000.")]
    public int MaxDatasetSamples { get; set; } = 2_000_000;

    [Range(1, 1_000_000, ErrorMessage = "Limits:MaxIdsPerRequest must be between 1 and 1000000.")]
    public int MaxIdsPerRequest { get; set; } = 100_000;

    /// <summary>How long an uploaded TorchScript archive may take to load and run once in its child process (TorchScriptCheck).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Limits:TorchScriptCheckTimeout must be between 1 s and 1 h.")]
    public TimeSpan TorchScriptCheckTimeout { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>Section "Pipeline": how requests become runs.</summary>
internal sealed class PipelineOptions
{
    public const string Section = "Pipeline";

    /// <summary>Requests for the same model arriving within this window share one run.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00", ErrorMessage = "Pipeline:BatchWindow must be between 0 and 1 day.")]
    public TimeSpan BatchWindow { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A running run whose worker has not reported for this long is taken over by another worker.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "01:00:00", ErrorMessage = "Pipeline:StaleRunAfter must be between 5 s and 1 h.")]
    public TimeSpan StaleRunAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Days from receipt to the due date when a request gives none (GDPR Art. 12(3): one month).</summary>
    [Range(1, 366, ErrorMessage = "Pipeline:DefaultDueDays must be between 1 and 366.")]
    public int DefaultDueDays { get; set; } = 30;

    /// <summary>Verdict: Df's member rate must not be significantly above T's at this significance level.</summary>
    [Range(1e-6, 0.5, ErrorMessage = "Pipeline:MembershipAlpha must be between 0.000001 and 0.5.")]
    public double MembershipAlpha { get; set; } = 0.05;

    /// <summary>Verdict: accuracy on a forgotten class at most chance (100/K) plus this many points.</summary>
    [Range(0.0, 100.0, ErrorMessage = "Pipeline:ClassAccuracyMarginPoints must be between 0 and 100.")]
    public double ClassAccuracyMarginPoints { get; set; } = 2;

    /// <summary>Verdict: TA and RA may drop at most this many points from the base version (regression: MSE percent).</summary>
    [Range(0.0, 100.0, ErrorMessage = "Pipeline:MaxUtilityDropPoints must be between 0 and 100.")]
    public double MaxUtilityDropPoints { get; set; } = 2;

    /// <summary>
    /// After a method's defaults fail their verdict, search the rest of its grid (learning rate; α for SSD) with the
    /// engine's tuner before escalating: judged on Df, a held-out slice of Dr and the dataset's validation split,
    /// never on T. Sample and subject forgetting need a validation split to tune.
    /// </summary>
    public bool TuneOnFailure { get; set; } = true;

    /// <summary>The verdict thresholds every run is judged by (stored with its verdict).</summary>
    public VerdictThresholds Thresholds => new()
    {
        MembershipAlpha = MembershipAlpha, ClassAccuracyMarginPoints = ClassAccuracyMarginPoints, MaxUtilityDropPoints = MaxUtilityDropPoints,
    };
}
