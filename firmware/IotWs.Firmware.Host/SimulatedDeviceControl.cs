using IotWs.Firmware.Core;

namespace IotWs.Firmware.Host;

/// <summary>The board's body on .NET: a reboot is a request the board's loop carries out by booting a new core.</summary>
public sealed class SimulatedDeviceControl(int seed) : IDeviceControl
{
    private readonly Random _random = new(seed);
    private int _identifyCount;
    private volatile bool _rebootRequested;

    /// <summary>Set by the core's reboot; cleared by the board when it has rebooted.</summary>
    public bool RebootRequested
    {
        get => _rebootRequested;
        set => _rebootRequested = value;
    }

    /// <summary>How often identify blinked the (imaginary) LED.</summary>
    public int IdentifyCount => Volatile.Read(ref _identifyCount);

    /// <inheritdoc/>
    public void Reboot() => _rebootRequested = true;

    /// <inheritdoc/>
    public void Identify(int durationMs) => Interlocked.Increment(ref _identifyCount);

    /// <inheritdoc/>
    public long FreeMemory => 150_000 + _random.Next(-5_000, 5_000);

    /// <inheritdoc/>
    public int Rssi => -60 + _random.Next(-8, 8);
}
