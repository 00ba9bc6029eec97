namespace UnlearnService.Engine.Formats;

/// <summary>
/// A safetensors file breaks the format: a bad length prefix, a header that is not the expected JSON, an unknown
/// dtype, inconsistent shapes or offsets, or bytes that no tensor accounts for. The message says which rule.
/// </summary>
public sealed class SafeTensorsFormatException : Exception
{
    /// <summary>Creates the exception with a message that names the broken rule.</summary>
    public SafeTensorsFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that revealed the problem.</summary>
    public SafeTensorsFormatException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public SafeTensorsFormatException() : base("The file is not valid safetensors.") { }
}
