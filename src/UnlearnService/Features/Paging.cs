using Microsoft.EntityFrameworkCore;

namespace UnlearnService.Features;

/// <summary>One page of a list: every list endpoint returns this shape.</summary>
internal sealed record Page<T>(IReadOnlyList<T> Items, int PageNumber, int PageSize, int Total);

internal static class Paging
{
    public const int MaxPageSize = 200;

    /// <summary>The last page anyone may ask for: (page − 1) × pageSize must stay a valid row offset.</summary>
    public const int MaxPage = 1_000_000;

    /// <summary>Checks page (1..1,000,000) and pageSize (1..200); returns an error message or null.</summary>
    public static string? Invalid(int page, int pageSize) =>
        page is < 1 or > MaxPage ? $"page must be between 1 and {MaxPage}." : pageSize is < 1 or > MaxPageSize ? $"pageSize must be between 1 and {MaxPageSize}." : null;

    public static async Task<Page<TOut>> ToPageAsync<TIn, TOut>(this IQueryable<TIn> query, int page, int pageSize, Func<TIn, TOut> map, CancellationToken cancellationToken)
    {
        var total = await query.CountAsync(cancellationToken);
        var items = await query.Skip((page - 1) * pageSize).Take(pageSize).ToListAsync(cancellationToken);
        return new Page<TOut>(items.Select(map).ToList(), page, pageSize, total);
    }
}
