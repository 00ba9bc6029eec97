using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;
using UnlearnService.Engine.Models;
using UnlearnService.Engine.Runtime;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Tests.Runtime;

/// <summary>
/// TorchSharp frees a temporary Scalar from its finalizer, which a collection on another thread can run while libtorch
/// still reads it: a thread adding implicit Scalars beside one that kept collecting failed 2,028 times inside libtorch
/// (engine README: Scalars). These tests read the engine's IL so that no such temporary comes back.
/// </summary>
public sealed class HeldScalarsTests
{
    static readonly Assembly Engine = typeof(TorchRuntime).Assembly;
    static readonly Assembly TorchSharpAssembly = typeof(torch).Assembly;

    /// <summary>TorchSharp's methods that create a Scalar themselves or through the methods they call directly.</summary>
    static readonly Lazy<HashSet<MethodBase>> MakingScalars = new(() =>
    {
        var methods = IlCalls.MethodsOf(TorchSharpAssembly).ToList();
        var calls = methods.ToDictionary(m => m, m => IlCalls.Of(m).ToList());
        var making = methods.Where(m => calls[m].Any(CreatesScalar)).ToHashSet();
        for (var grew = true; grew;)
        {
            grew = false;
            foreach (var m in methods)
                if (!making.Contains(m) && calls[m].Any(making.Contains))
                    grew = making.Add(m) || grew;
        }
        return making;
    });

    static bool CreatesScalar(MethodBase m) =>
        m.DeclaringType == typeof(Scalar) && m.Name == "op_Implicit"
        || m.DeclaringType == typeof(ScalarExtensionMethods) && m.Name == nameof(ScalarExtensionMethods.ToScalar);

    static string Describe(MethodBase m) =>
        $"{m.DeclaringType?.FullName}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})";

    [Fact]
    public void Engine_NeverPassesATemporaryScalar()
    {
        // An explicit ToScalar() is the engine's way of holding one (with `using`); everything else that makes a
        // Scalar on the way to libtorch is a temporary.
        var offenders = IlCalls.MethodsOf(Engine)
            .SelectMany(m => IlCalls.Of(m).Select(callee => (m, callee)))
            .Where(call => call.callee.DeclaringType == typeof(Scalar) && call.callee.Name == "op_Implicit"
                || MakingScalars.Value.Contains(call.callee))
            .Select(call => $"{Describe(call.m)} → {Describe(call.callee)}")
            .Distinct()
            .ToList();

        Assert.True(offenders.Count == 0, "Temporary Scalars:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void Scan_FindsTorchSharpsOwnTemporaries()
    {
        // The shorthands the engine avoids, so that the test above cannot pass by reading nothing.
        Assert.Contains(typeof(Tensor).GetMethod("op_Addition", [typeof(Tensor), typeof(Tensor)])!, MakingScalars.Value);
        Assert.Contains(typeof(Tensor).GetMethod(nameof(Tensor.add_), [typeof(Tensor)])!, MakingScalars.Value);
        Assert.Contains(typeof(Tensor).GetMethod(nameof(Tensor.square), Type.EmptyTypes)!, MakingScalars.Value);
        Assert.Contains(typeof(TorchSharp.Modules.BatchNorm).GetMethod(nameof(TorchSharp.Modules.BatchNorm.forward))!, MakingScalars.Value);
        Assert.DoesNotContain(typeof(Tensor).GetMethod(nameof(Tensor.add_), [typeof(Tensor), typeof(Scalar)])!, MakingScalars.Value);
    }

    [Theory]
    [InlineData(Architecture.Mlp, new long[] { 8 })]
    [InlineData(Architecture.SmallCnn, new long[] { 1, 8, 8 })]
    [InlineData(Architecture.ResNet18, new long[] { 1, 8, 8 })]
    public void ZooModules_ForwardWithoutTemporaryScalars(Architecture architecture, long[] inputShape)
    {
        // A module's forward is reached through a virtual call, which the IL of its caller does not name.
        using var model = ModelZoo.Create(new ModelSpec { Architecture = architecture, InputShape = inputShape, Outputs = 3, Width = 2 }, seed: 1);

        var forwards = model.modules()
            .Select(module => module.GetType().GetMethod("forward", [typeof(Tensor)])!)
            .Distinct()
            .ToList();

        Assert.Contains(forwards, f => f.DeclaringType == typeof(TorchSharp.Modules.Conv2d) || f.DeclaringType == typeof(TorchSharp.Modules.Linear));
        Assert.All(forwards, forward => Assert.False(
            forward.DeclaringType!.Assembly == TorchSharpAssembly && MakingScalars.Value.Contains(forward),
            $"{Describe(forward)} makes a temporary Scalar"));
    }

    [Fact]
    public void ZooBatchNorm2d_MatchesTorchSharps()
    {
        TorchRuntime.Initialize();
        using var ours = new BatchNorm2d(3);
        using var theirs = nn.BatchNorm2d(3);
        using var generator = new Generator(5, torch.CPU);
        using (torch.no_grad())
        {
            ours.weight.uniform_(0.5, 1.5, generator);
            ours.bias!.uniform_(-1, 1, generator);
            theirs.weight.copy_(ours.weight);
            theirs.bias!.copy_(ours.bias);
        }

        for (var step = 0; step < 3; step++)
        {
            using var x = torch.randn([4, 3, 5, 5], generator: generator);
            using var expected = theirs.forward(x);
            using var actual = ours.forward(x);
            Assert.True(TensorAssert.Identical(expected, actual), $"training output differs at step {step}");
        }
        ours.eval();
        theirs.eval();
        using var sample = torch.randn([2, 3, 5, 5], generator: generator);
        using var evalExpected = theirs.forward(sample);
        using var evalActual = ours.forward(sample);

        Assert.True(TensorAssert.Identical(evalExpected, evalActual), "evaluation output differs");
        var expectedState = theirs.state_dict();
        var actualState = ours.state_dict();
        Assert.Equal(expectedState.Keys.Order(), actualState.Keys.Order());
        foreach (var (name, value) in expectedState)
            Assert.True(TensorAssert.Identical(value, actualState[name]), $"{name} differs");
        Assert.Equal(3, actualState["num_batches_tracked"].item<long>());
        using var flat = torch.zeros(2, 3);
        Assert.Throws<ArgumentException>(() => ours.forward(flat));
    }
}

/// <summary>The methods a method's IL calls directly, read with System.Reflection.Emit's opcode table.</summary>
internal static class IlCalls
{
    static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Every method and constructor declared in <paramref name="assembly"/>, compiler-generated ones (lambdas) included.</summary>
    public static IEnumerable<MethodBase> MethodsOf(Assembly assembly) =>
        assembly.GetTypes().SelectMany(t => t.GetMethods(Declared).Cast<MethodBase>().Concat(t.GetConstructors(Declared)));

    public static IEnumerable<MethodBase> Of(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null) yield break;
        var typeArguments = method.DeclaringType is { IsGenericType: true } type ? type.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var i = 0; i < il.Length;)
        {
            short value = il[i++];
            if (value == 0xFE) value = (short)(0xFE00 | il[i++]);
            var opCode = OpCodesByValue[value];
            if (opCode.OperandType == OperandType.InlineMethod
                && method.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArguments, methodArguments) is { } callee)
                yield return callee;
            i += opCode.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
        }
    }
}
