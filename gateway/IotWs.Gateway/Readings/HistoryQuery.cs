using System.Globalization;
using IotWs.Gateway.Storage;

namespace IotWs.Gateway.Readings;

/// <summary>A history query (REST and get_readings): from/to, resolution and limit, with defaults and clear refusals.</summary>
public sealed record HistoryQuery(DateTimeOffset From, DateTimeOffset To, Resolution Resolution, int Limit)
{
    /// <summary>Most rows one query returns; larger limits are capped to it.</summary>
    public const int MaxLimit = 10_000;
    public static readonly TimeSpan DefaultSpan = TimeSpan.FromHours(24);

    /// <summary>
    /// Parses the parameters: from/to as ISO-8601 or epoch milliseconds (default: the last 24 hours up to now),
    /// resolution raw|1m|1h (default raw), limit 1.. (default <paramref name="defaultLimit"/>, capped at 10,000).
    /// </summary>
    public static bool TryParse(string? from, string? to, string? resolution, string? limit, DateTimeOffset now, int defaultLimit, out HistoryQuery query, out string error)
    {
        query = null!;
        error = "";
        DateTimeOffset toTime = now;
        if (!string.IsNullOrWhiteSpace(to) && !TryTime(to, out toTime))
        {
            error = $"'to' must be an ISO-8601 time (e.g. 2026-11-21T12:00:00Z) or epoch milliseconds; got '{to}'.";
            return false;
        }
        var fromTime = toTime - DefaultSpan;
        if (!string.IsNullOrWhiteSpace(from) && !TryTime(from, out fromTime))
        {
            error = $"'from' must be an ISO-8601 time (e.g. 2026-11-21T12:00:00Z) or epoch milliseconds; got '{from}'.";
            return false;
        }
        if (fromTime > toTime)
        {
            error = $"'from' ({Wire.WireJson.Time(fromTime)}) is after 'to' ({Wire.WireJson.Time(toTime)}).";
            return false;
        }
        Resolution res;
        switch (string.IsNullOrWhiteSpace(resolution) ? "raw" : resolution.Trim())
        {
            case "raw": res = Resolution.Raw; break;
            case "1m": res = Resolution.Minute; break;
            case "1h": res = Resolution.Hour; break;
            default:
                error = $"'resolution' must be raw, 1m or 1h; got '{resolution}'.";
                return false;
        }
        var n = defaultLimit;
        if (!string.IsNullOrWhiteSpace(limit) && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out n) || n < 1))
        {
            error = $"'limit' must be a positive whole number (at most {MaxLimit}); got '{limit}'.";
            return false;
        }
        query = new HistoryQuery(fromTime, toTime, res, Math.Min(n, MaxLimit));
        return true;
    }

    private static bool TryTime(string text, out DateTimeOffset time)
    {
        text = text.Trim();
        if (text.Length <= 16 && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms <= DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            time = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            return true;
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);
    }
}
