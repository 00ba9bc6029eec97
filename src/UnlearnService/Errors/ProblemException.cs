namespace UnlearnService.Errors;

/// <summary>
/// A client error found deep in a handler (a malformed upload, an unknown id in a request body): becomes a
/// problem-details response with this status and message.
/// </summary>
internal sealed class ProblemException(int status, string detail, IDictionary<string, object?>? extensions = null) : Exception(detail)
{
    public int Status { get; } = status;
    public IDictionary<string, object?>? Extensions { get; } = extensions;
}
