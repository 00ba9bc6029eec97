using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;

namespace UnlearnService.Errors;

/// <summary>The one place where exceptions become RFC 9457 problem details.</summary>
internal sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, detail) = exception switch
        {
            ProblemException problem => (problem.Status, ReasonPhrases.GetReasonPhrase(problem.Status), problem.Message),
            BadHttpRequestException bad => (bad.StatusCode, "Bad request", bad.Message),
            OperationCanceledException when context.RequestAborted.IsCancellationRequested => (499, "Client closed request", null),
            _ => (StatusCodes.Status500InternalServerError, "Internal server error", null),
        };
        if (status >= 500)
            logger.LogError(exception, "Unhandled exception on {Method} {Path}", context.Request.Method, context.Request.Path);

        context.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = WithExtensions(new ProblemDetails { Status = status, Title = title, Detail = detail }, (exception as ProblemException)?.Extensions),
        });
    }

    static ProblemDetails WithExtensions(ProblemDetails problem, IDictionary<string, object?>? extensions)
    {
        foreach (var (key, value) in extensions ?? new Dictionary<string, object?>()) problem.Extensions[key] = value;
        return problem;
    }
}
