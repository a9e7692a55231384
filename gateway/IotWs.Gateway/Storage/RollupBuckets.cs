namespace IotWs.Gateway.Storage;

/// <summary>The minute and hour rollup tables every provider keeps, and the bucket arithmetic they share.</summary>
internal static class RollupBuckets
{
    public const long MinuteMs = 60_000;
    public const long HourMs = 3_600_000;

    /// <summary>The table and bucket width of a rollup resolution; raw readings have none.</summary>
    public static (string Table, long Step) For(Resolution resolution) => resolution switch
    {
        Resolution.Minute => ("rollup_1m", MinuteMs),
        Resolution.Hour => ("rollup_1h", HourMs),
        _ => throw new ArgumentOutOfRangeException(nameof(resolution), resolution, "Raw readings have no rollups."),
    };

    /// <summary>A non-negative remainder, so timestamps before 1970 fall into the bucket that starts before them.</summary>
    public static long Mod(long value, long step) => ((value % step) + step) % step;
}
