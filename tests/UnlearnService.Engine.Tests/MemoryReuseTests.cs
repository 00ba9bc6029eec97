using System.Globalization;
using TorchSharp;
using UnlearnService.Engine.Runtime;

namespace UnlearnService.Engine.Tests;

/// <summary>Page faults are counted for the whole process, so nothing else of this assembly may run meanwhile.</summary>
[CollectionDefinition(nameof(ProcessWideMeasurements), DisableParallelization = true)]
public sealed class ProcessWideMeasurements;

[Collection(nameof(ProcessWideMeasurements))]
public sealed class MemoryReuseTests
{
    [Fact]
    public void TrainingStepSizedBuffers_FreedTogether_AreReusedWithoutFaultingPagesIn()
    {
        if (!OperatingSystem.IsLinux()) return;
        TorchRuntime.Initialize();
        // Other tests' tensors that are garbage would be freed into the same arenas by the finalizer meanwhile.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        // On the test's thread and on a fresh one: glibc serves threads other than the main one from arenas whose
        // heaps it unmaps differently from the main heap, and which arena a thread gets is up to glibc.
        var perStep = new long[2][];
        perStep[0] = FaultsPerStep();
        var worker = new Thread(() => perStep[1] = FaultsPerStep());
        worker.Start();
        worker.Join();

        // Faulting one buffer in afresh costs 12 MB / 4 KB = 3,072 faults. Without reuse all four are faulted in every
        // step; with arena heaps unmapped once wholly free, one or two buffers every other step. Reused memory
        // costs next to none, but the process is shared (finalizers free other tests' tensors into the same arenas),
        // so a few steps may still land on fresh pages while the heaps settle (a full CI run saw 6 of the first 10 steps
        // after 3 warm-up steps, 1 of the next 10): what must not happen is faulting as a habit.
        var eighthOfABuffer = (long)Floats * sizeof(float) / Environment.SystemPageSize / 8;
        foreach (var steps in perStep)
        {
            var faulting = steps.Count(f => f > eighthOfABuffer);
            Assert.True(faulting <= 5,
                $"{faulting} of {steps.Length} steps faulted pages in: {string.Join(", ", steps)} (one buffer costs {8 * eighthOfABuffer})");
        }
    }

    const int Buffers = 4, Floats = 3 << 20; // 4 × 12 MB, freed together as a step's activations are

    static long[] FaultsPerStep()
    {
        static void Step()
        {
            using var scope = torch.NewDisposeScope();
            for (var i = 0; i < Buffers; i++) torch.ones(Floats);
        }
        for (var i = 0; i < 10; i++) Step(); // the first steps grow the heaps to what a step needs

        var faults = new long[20];
        for (var i = 0; i < faults.Length; i++)
        {
            var before = MinorFaults();
            Step();
            faults[i] = MinorFaults() - before;
        }
        return faults;
    }

    /// <summary>Minor page faults of this process so far (/proc/self/stat, field 10).</summary>
    static long MinorFaults()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[10 - 3], CultureInfo.InvariantCulture);
    }
}
