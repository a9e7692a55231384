namespace IotWs.Mqtt;

/// <summary>Exponential backoff with full jitter, so many gateways do not reconnect in lockstep after a broker restart.</summary>
public static class ReconnectBackoff
{
    /// <summary>random(0, min(max, min * 2^attempt)), with <paramref name="random01"/> in [0, 1).</summary>
    public static TimeSpan Delay(int attempt, TimeSpan min, TimeSpan max, double random01)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(attempt);
        var cap = Math.Min(max.Ticks, min.Ticks * Math.Pow(2, Math.Min(attempt, 62)));
        return TimeSpan.FromTicks((long)(cap * Math.Clamp(random01, 0, 1)));
    }
}
