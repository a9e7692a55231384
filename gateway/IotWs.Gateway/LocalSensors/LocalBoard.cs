using IotWs.Firmware.Core;
using IotWs.Firmware.Host;

namespace IotWs.Gateway.LocalSensors;

/// <summary>
/// A DHT22 on the Pi run as a board of its own: the firmware's <see cref="DeviceCore"/> (bootId, seq, offline buffer,
/// heartbeats with sensorErrors, retries, RPC) on .NET adapters, talking to this gateway over a loopback WebSocket.
/// Its readings therefore take exactly a board's path: validation, exactly-once storage, fan-out, presence, alerts, MQTT.
/// The core is ticked every 50 ms on a thread of its own (a DHT22 read busy-waits for ~45 ms); all its timing comes
/// from the gateway's TimeProvider.
/// </summary>
internal sealed class LocalBoard
{
    private static readonly TimeSpan TickPeriod = TimeSpan.FromMilliseconds(50);
    private static readonly SystemTextJsonCodec Json = new();

    private readonly LocalSensorOptions _options;
    private readonly string _gatewayUrl;
    private readonly string _token;
    private readonly int _heartbeatMs;
    private readonly IStore _store;
    private readonly WebSocketTransport _transport;
    private readonly SensorPort _sensor;
    private readonly LocalDeviceControl _device;
    private readonly IClock _clock;
    private readonly ILog _log;
    private readonly SystemRandomSource _random = new(Environment.TickCount);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private volatile DeviceCore _core;
    private long _ticks;

    public LocalBoard(LocalSensorOptions options, string gatewayUrl, string token, CertificatePin? pin, TimeSpan heartbeat,
        IStore store, IDhtReader reader, TimeProvider time, ILogger logger)
    {
        _options = options;
        _gatewayUrl = gatewayUrl;
        _token = token;
        _heartbeatMs = (int)Math.Clamp(heartbeat.TotalMilliseconds, DeviceSettings.MinHeartbeatIntervalMs, DeviceSettings.MaxHeartbeatIntervalMs);
        _store = store;
        _transport = new WebSocketTransport(pin: pin);
        _clock = new TimeProviderClock(time);
        _sensor = new SensorPort(reader, options.DeviceId, time, logger);
        _device = new LocalDeviceControl(options.DeviceId, logger);
        _log = new LoggerLog(logger, options.DeviceId);
        _core = Boot();
        _thread = new Thread(Run) { IsBackground = true, Name = "iotws-local-" + options.DeviceId };
    }

    public LocalSensorOptions Options => _options;
    public SensorPort Sensor => _sensor;
    public DeviceCore Core => _core;
    /// <summary>Loop steps so far (tests wait on it after moving a fake clock).</summary>
    public long Ticks => Interlocked.Read(ref _ticks);

    public void Start() => _thread.Start();

    /// <summary>Stops the loop, closes the link with 1001 and spills unacknowledged readings to the state file.</summary>
    public async ValueTask StopAsync()
    {
        await _stop.CancelAsync();
        if (_thread.IsAlive) await Task.Run(_thread.Join);
        _core.Stop();
        await _transport.ShutdownAsync();
        _sensor.Dispose();
        _stop.Dispose();
    }

    private void Run()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            var began = Environment.TickCount64;
            try
            {
                _core.Tick();
                if (_device.RebootRequested)
                {
                    // reboot: a new boot of the core on the same state file (bootId + 1), and the pin opened afresh.
                    _device.RebootRequested = false;
                    _sensor.Reset();
                    _core = Boot();
                }
            }
            catch (Exception e)
            {
                _log.Warn("tick failed: " + e.Message);
            }
            Interlocked.Increment(ref _ticks);
            var rest = TickPeriod.TotalMilliseconds - (Environment.TickCount64 - began);
            if (rest > 0) token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(rest));
        }
    }

    private DeviceCore Boot()
    {
        var settings = new DeviceSettings
        {
            GatewayUrl = _gatewayUrl,
            DeviceId = _options.DeviceId,
            Token = _token,
            Location = _options.Location,
            ReadingIntervalMs = (int)_options.ReadingInterval.TotalMilliseconds,
            HeartbeatIntervalMs = _heartbeatMs,
            SensorRetries = _options.Retries,
            SensorRetryMs = (int)_options.RetryDelay.TotalMilliseconds,
        };
        var core = new DeviceCore(settings, new DevicePorts
        {
            Transport = _transport,
            Sensor = _sensor,
            Clock = _clock,
            Store = _store,
            Device = _device,
            Log = _log,
            Json = Json,
            Random = _random,
        });
        core.Start();
        return core;
    }
}

/// <summary>The core's sensor port over a reader: counts reads and failures, logs when the sensor starts and stops failing.</summary>
internal sealed class SensorPort(IDhtReader reader, string deviceId, TimeProvider time, ILogger logger) : ISensor, IDisposable
{
    private readonly object _gate = new();
    private long _reads;
    private long _failures;
    private long _failingSince;
    private string? _lastError;
    private DateTimeOffset? _lastReadAt;
    private DateTimeOffset? _lastGoodAt;

    public bool TryRead(out double temperature, out double humidity)
    {
        bool ok;
        string? error;
        try
        {
            ok = reader.TryRead(out temperature, out humidity, out error);
        }
        catch (Exception e)
        {
            ok = false;
            temperature = humidity = double.NaN;
            error = e.Message;
        }
        var now = time.GetUtcNow();
        lock (_gate)
        {
            _reads++;
            _lastReadAt = now;
            if (ok)
            {
                if (_failingSince > 0) LocalSensorLog.Recovered(logger, deviceId, _failingSince);
                _failingSince = 0;
                _lastGoodAt = now;
                _lastError = null;
            }
            else
            {
                _failures++;
                // The first failure of a run is logged with its reason, and a changed reason; not every retry.
                if (_failingSince == 0 || error != _lastError) LocalSensorLog.ReadFailed(logger, deviceId, error ?? "read failed");
                _failingSince++;
                _lastError = error;
            }
        }
        return ok;
    }

    /// <summary>Reads, failures, the last error and times, for /api/status.</summary>
    public (long Reads, long Failures, string? LastError, DateTimeOffset? LastReadAt, DateTimeOffset? LastGoodAt) Snapshot()
    {
        lock (_gate) return (_reads, _failures, _lastError, _lastReadAt, _lastGoodAt);
    }

    /// <summary>Releases the pin; the next read opens it again.</summary>
    public void Reset() => reader.Dispose();

    public void Dispose() => reader.Dispose();
}

/// <summary>The core's clock on the gateway's TimeProvider: monotonic ticks from its timestamps, wall time from its UtcNow.</summary>
internal sealed class TimeProviderClock(TimeProvider time) : IClock
{
    private readonly long _start = time.GetTimestamp();

    public DateTime UtcNow => time.GetUtcNow().UtcDateTime;

    public long TickCount => (long)time.GetElapsedTime(_start).TotalMilliseconds;
}

/// <summary>The "board" of a Pi-attached sensor: reboot restarts its core, identify is logged (there is no LED), no radio.</summary>
internal sealed class LocalDeviceControl(string deviceId, ILogger logger) : IDeviceControl
{
    private volatile bool _rebootRequested;

    public bool RebootRequested
    {
        get => _rebootRequested;
        set => _rebootRequested = value;
    }

    public void Reboot() => _rebootRequested = true;

    public void Identify(int durationMs) => LocalSensorLog.Identify(logger, deviceId);

    /// <summary>Memory the gateway process may still take.</summary>
    public long FreeMemory
    {
        get
        {
            var info = GC.GetGCMemoryInfo();
            return Math.Max(0, info.TotalAvailableMemoryBytes - GC.GetTotalMemory(false));
        }
    }

    /// <summary>Wired, not on WiFi: 0 leaves rssi out of heartbeats.</summary>
    public int Rssi => 0;
}

internal static partial class LocalSensorLog
{
    [LoggerMessage(1301, LogLevel.Information, "Local sensor {DeviceId}: {Driver} driver, {Detail}; readings go through ws loopback {Url} as a device")]
    public static partial void Started(ILogger logger, string deviceId, string driver, string detail, string url);

    [LoggerMessage(1302, LogLevel.Information, "Local sensor {DeviceId}: registered as a new device ({Name})")]
    public static partial void Registered(ILogger logger, string deviceId, string name);

    [LoggerMessage(1303, LogLevel.Error, "Local sensor {DeviceId}: the device is revoked, so the sensor is not read. Remove it from Gateway:LocalSensors, or register it again with 'devices rotate-token {DeviceId}'")]
    public static partial void Revoked(ILogger logger, string deviceId);

    [LoggerMessage(1304, LogLevel.Warning, "Local sensor {DeviceId}: read failed: {Error} (tried again no sooner than 2 s; counted in sensorErrors)")]
    public static partial void ReadFailed(ILogger logger, string deviceId, string error);

    [LoggerMessage(1305, LogLevel.Information, "Local sensor {DeviceId}: reads work again after {Failures} failed")]
    public static partial void Recovered(ILogger logger, string deviceId, long failures);

    [LoggerMessage(1306, LogLevel.Information, "Local sensor {DeviceId}: identify requested (a Pi-attached sensor has no LED to blink)")]
    public static partial void Identify(ILogger logger, string deviceId);
}
