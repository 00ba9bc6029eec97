using TorchSharp;
using static TorchSharp.torch;

namespace UnlearnService.Engine.Models;

/// <summary>
/// A TorchScript model seen as an ordinary <c>Module&lt;Tensor, Tensor&gt;</c>, so every method and evaluation
/// works on it unchanged: parameters, buffers, state dict, modes and devices are the script module's own.
/// </summary>
public sealed class TorchScriptModel : nn.Module<Tensor, Tensor>
{
    readonly jit.ScriptModule<Tensor, Tensor> _script;

    TorchScriptModel(jit.ScriptModule<Tensor, Tensor> script) : base(nameof(TorchScriptModel))
    {
        _script = script;
    }

    /// <summary>Loads a TorchScript archive (as written by <c>torch.jit.save</c>).</summary>
    /// <exception cref="ModelFormatException">The bytes are not a loadable TorchScript archive.</exception>
    public static TorchScriptModel Load(byte[] archive)
    {
        using var stream = new MemoryStream(archive, writable: false);
        return Load(stream);
    }

    /// <summary>Loads a TorchScript archive from a stream, through a temporary file (libtorch reads files), never whole in memory.</summary>
    /// <exception cref="ModelFormatException">The stream is not a loadable TorchScript archive.</exception>
    public static TorchScriptModel Load(Stream archive)
    {
        var path = Path.GetTempFileName();
        try
        {
            using (var file = File.Create(path)) archive.CopyTo(file);
            return Load(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Loads a TorchScript archive from a file. libtorch aborts the process on some malformed archives: check one from an
    /// untrusted source with <see cref="TorchScriptCheck"/> first.
    /// </summary>
    /// <exception cref="ModelFormatException">The file is not a loadable TorchScript archive.</exception>
    public static TorchScriptModel Load(string path)
    {
        Runtime.TorchRuntime.Initialize();
        try
        {
            return new TorchScriptModel(torch.jit.load<Tensor, Tensor>(path));
        }
        catch (Exception e) when (e is System.Runtime.InteropServices.ExternalException or InvalidOperationException or ArgumentException)
        {
            throw new ModelFormatException($"Not a loadable TorchScript archive: {FirstLine(e.Message)}", e);
        }
    }

    /// <summary>Writes the model (with its current weights) back as a TorchScript archive.</summary>
    public byte[] Save()
    {
        var path = Path.GetTempFileName();
        try
        {
            torch.jit.save(_script, path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => _script.call(input);

    /// <inheritdoc />
    public override IEnumerable<(string name, TorchSharp.Modules.Parameter parameter)> named_parameters(bool recurse = true) => _script.named_parameters(recurse);

    /// <inheritdoc />
    public override IEnumerable<(string name, Tensor buffer)> named_buffers(bool recurse = true, bool include_nonpersistent = true) =>
        _script.named_buffers(recurse, include_nonpersistent);

    /// <inheritdoc />
    public override Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null) =>
        _script.state_dict(destination, prefix);

    /// <inheritdoc />
    public override void train(bool train = true) => _script.train(train);

    /// <inheritdoc />
    public override bool training => _script.training;

    /// <inheritdoc />
    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
    {
        _script.to(device, dtype, non_blocking);
        return this;
    }

    /// <inheritdoc />
    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
    {
        _script.to(deviceType, deviceIndex, non_blocking);
        return this;
    }

    /// <inheritdoc />
    protected override nn.Module _to(ScalarType dtype, bool non_blocking)
    {
        _script.to(dtype, non_blocking);
        return this;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _script.Dispose();
        base.Dispose(disposing);
    }
}
