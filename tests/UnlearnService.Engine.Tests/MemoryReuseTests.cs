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
        const int buffers = 4, floats = 3 << 20; // 4 × 12 MB, freed together as a step's activations are
        void Step()
        {
            using var scope = torch.NewDisposeScope();
            for (var i = 0; i < buffers; i++) torch.ones(floats);
        }
        for (var i = 0; i < 3; i++) Step(); // the first steps grow the heap to what a step needs

        var before = MinorFaults();
        for (var i = 0; i < 10; i++) Step();
        var faults = MinorFaults() - before;

        // Faulting the buffers in afresh costs 12 MB / 4 KB = 3,072 faults per buffer and step: 122,880 for the ten steps.
        var onePass = (long)buffers * floats * sizeof(float) / Environment.SystemPageSize;
        Assert.True(faults < onePass, $"{faults} page faults in 10 steps; one pass over the buffers is {onePass}");
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
