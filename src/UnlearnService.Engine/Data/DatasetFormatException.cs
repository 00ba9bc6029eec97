namespace UnlearnService.Engine.Data;

/// <summary>
/// A dataset file (IDX, safetensors or CSV) breaks its format or the import limits. The message names the file
/// part, and for CSV the row and column (rows are numbered as in a spreadsheet: the header is row 1).
/// </summary>
public sealed class DatasetFormatException : Exception
{
    /// <summary>Creates the exception with a message that says what is wrong and where.</summary>
    public DatasetFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that revealed the problem.</summary>
    public DatasetFormatException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public DatasetFormatException() : base("The dataset file is not valid.") { }
}
