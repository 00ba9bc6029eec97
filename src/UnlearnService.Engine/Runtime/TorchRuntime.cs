using System.Runtime.InteropServices;
using TorchSharp;

namespace UnlearnService.Engine.Runtime;

/// <summary>
/// Prepares the process for libtorch and resolves device names. Call <see cref="Initialize"/> before the first
/// tensor is created: libgomp reads its environment when libtorch is loaded.
/// </summary>
public static partial class TorchRuntime
{
    static readonly Lock Gate = new();
    static bool _initialized;

    /// <summary>
    /// Sets, in the native environment and unless the caller chose otherwise, OMP_WAIT_POLICY=PASSIVE (libgomp's
    /// spinning threads make training several times slower on a small, shared machine) and ONEDNN_MAX_CPU_ISA=AVX2,
    /// then loads libtorch. The oneDNN bundled with libtorch 2.10 intermittently produces NaN in small convolutions
    /// with its AVX-512 kernels on AMD EPYC (a seeded width-4 CNN diverged in 5 of 10 identical runs, in 0 of 20 with
    /// AVX2 kernels); oneDNN reads the variable when it creates its first primitive. The AVX2 kernels fault too, far
    /// more rarely, when their threads are preempted: <see cref="Training.FiniteGradients"/> recomputes such a step.
    /// On glibc it also keeps freed tensor memory for reuse (<see cref="KeepFreedMemoryMapped"/>).
    /// </summary>
    public static void Initialize()
    {
        lock (Gate)
        {
            if (_initialized) return;
            // Environment.SetEnvironmentVariable only changes .NET's copy; libgomp reads the C environment.
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            {
                _ = SetEnv("OMP_WAIT_POLICY", "PASSIVE", overwrite: 0);
                _ = SetEnv("ONEDNN_MAX_CPU_ISA", "AVX2", overwrite: 0);
            }
            if (OperatingSystem.IsLinux() && !CallerTunedMalloc()) KeepFreedMemoryMapped();
            using (torch.ones(1)) { }
            _initialized = true;
        }
    }

    /// <summary>The libtorch version, e.g. "2.10.0"; loads libtorch if needed.</summary>
    public static string Version
    {
        get
        {
            Initialize();
            return torch.__version__;
        }
    }

    /// <summary>
    /// Resolves <c>auto | cpu | cuda | cuda:N</c> to a torch device. <c>auto</c> picks the first CUDA device when
    /// one is available, else the CPU.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not one of the accepted forms or names a missing GPU.</exception>
    public static torch.Device ResolveDevice(string name)
    {
        if (!DeviceName.IsValid(name))
            throw new ArgumentException($"Device '{name}' is not one of auto, cpu, cuda, cuda:N.", nameof(name));
        Initialize();
        var normalized = name.Trim().ToLowerInvariant();
        if (normalized == "auto")
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        if (normalized == "cpu")
            return torch.CPU;
        if (!torch.cuda.is_available())
            throw new ArgumentException($"Device '{name}' asks for CUDA, but this process has no CUDA device (or runs the CPU build).", nameof(name));
        var index = normalized == "cuda" ? 0 : int.Parse(normalized["cuda:".Length..], System.Globalization.CultureInfo.InvariantCulture);
        var count = torch.cuda.device_count();
        if (index >= count)
            throw new ArgumentException($"Device '{name}' does not exist: {count} CUDA device(s) present.", nameof(name));
        return torch.device(DeviceType.CUDA, index);
    }

    /// <summary>
    /// glibc maps blocks above its mmap threshold afresh and unmaps them on free, and hands the heap's free top back to
    /// the kernel above its trim threshold. A training step frees several activation buffers of a few MB together
    /// (batch 256 on the small CNN: about 13 MB each), so every step faulted them in again: in one SalUn run of the
    /// benchmark 7.4 million page faults and as much system time as half the user time (21 s; 13 s with this).
    /// Blocks up to 32 MB (glibc's largest threshold) now come from the heap, and up to 256 MB of freed heap stays
    /// mapped for the next step. Threads other than the main one (the service's workers, libtorch's intra-op threads,
    /// test runners) allocate from arenas made of heaps of at most 64 MB, and glibc unmaps such a heap as soon as it is
    /// wholly free if the heap before it has at least the top pad to spare. A pad of 64 MB, no less than a heap can
    /// hold, means it never has, so the heaps stay (without it one or two buffers of four were faulted in afresh every
    /// other step). The pad reserves address space only; pages count once touched. Larger tensors are still mapped per
    /// allocation.
    /// </summary>
    static void KeepFreedMemoryMapped()
    {
        try
        {
            _ = MallOpt(MallocMmapThreshold, 32 << 20);
            _ = MallOpt(MallocTrimThreshold, 256 << 20);
            _ = MallOpt(MallocTopPad, 64 << 20);
        }
        catch (EntryPointNotFoundException)
        {
            // Not glibc: its allocator has its own policy.
        }
    }

    /// <summary>Whether the process was started with glibc malloc settings, which then stand.</summary>
    static bool CallerTunedMalloc() =>
        Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null
        || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is not null
        || Environment.GetEnvironmentVariable("MALLOC_TOP_PAD_") is not null
        || Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Contains("glibc.malloc.", StringComparison.Ordinal) == true;

    // mallopt parameters from glibc's malloc.h.
    const int MallocTrimThreshold = -1;
    const int MallocTopPad = -2;
    const int MallocMmapThreshold = -3;

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);
}

/// <summary>Syntax of device names accepted everywhere a device is configured.</summary>
public static partial class DeviceName
{
    /// <summary>True for <c>auto</c>, <c>cpu</c>, <c>cuda</c> and <c>cuda:N</c> (case-insensitive).</summary>
    public static bool IsValid(string? name) => name is not null && Pattern().IsMatch(name.Trim());

    [System.Text.RegularExpressions.GeneratedRegex("^(auto|cpu|cuda(:[0-9]{1,2})?)$", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex Pattern();
}
