using IotWs.Firmware.Core;

namespace IotWs.Firmware.Host;

/// <summary>The machine's clock: always synced, monotonic ticks from Environment.TickCount64.</summary>
public sealed class SystemClock : IClock
{
    /// <summary>One shared instance is enough: it has no state.</summary>
    public static readonly SystemClock Instance = new();

    /// <inheritdoc/>
    public DateTime UtcNow => DateTime.UtcNow;

    /// <inheritdoc/>
    public long TickCount => Environment.TickCount64;
}

/// <summary>System.Random behind the core's jitter port.</summary>
public sealed class SystemRandomSource(int seed) : IRandomSource
{
    private readonly Random _random = new(seed);

    /// <inheritdoc/>
    public int Next(int maxExclusive) => _random.Next(maxExclusive);
}
