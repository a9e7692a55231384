using IotWs.Firmware.Core;
using Microsoft.Extensions.Logging;

namespace IotWs.Firmware.Host;

/// <summary>A device id and the token issued for it (one line of devices.jsonl).</summary>
public sealed record DeviceCredential(string DeviceId, string Token);

/// <summary>How a simulated fleet runs: which gateway, which devices, how often they read and beat.</summary>
public sealed class SimulatorOptions
{
    /// <summary>The gateway's WebSocket endpoint, e.g. ws://127.0.0.1:5080/ws (or give <see cref="GatewayUrls"/>).</summary>
    public Uri? GatewayUrl { get; init; }

    /// <summary>
    /// A cluster's gateways, tried in order like the firmware does: on a failed connect or a close of
    /// 1001, 1006 or 1013 a board moves to the next. When set, it wins over <see cref="GatewayUrl"/>.
    /// </summary>
    public IReadOnlyList<Uri> GatewayUrls { get; init; } = [];

    /// <summary>The URLs the boards use: <see cref="GatewayUrls"/>, or the one <see cref="GatewayUrl"/>.</summary>
    public IReadOnlyList<Uri> EffectiveGatewayUrls => GatewayUrls.Count > 0 ? GatewayUrls : GatewayUrl is null ? [] : [GatewayUrl];

    /// <summary>One board per credential.</summary>
    public required IReadOnlyList<DeviceCredential> Devices { get; init; }

    /// <summary>DHT22 read interval, at least 2 s.</summary>
    public TimeSpan ReadingInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Heartbeat interval announced in the handshake.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Directory of per-device store files (boot counter, intervals); null keeps them in memory.</summary>
    public string? StateDirectory { get; init; }

    /// <summary>Share of sensor reads that fail, 0..1.</summary>
    public double SensorFailureRate { get; init; } = 0.02;

    /// <summary>For wss://: the only gateway certificate the boards accept; null trusts the system's CAs.</summary>
    public CertificatePin? TlsPin { get; init; }
}

/// <summary>
/// One virtual ESP32: the firmware's own <see cref="DeviceCore"/> on .NET adapters (WebSocket,
/// simulated DHT22, store). A reboot boots a fresh core on the same store, so bootId goes up by one.
/// </summary>
public sealed class SimulatedBoard
{
    private static readonly SystemTextJsonCodec Json = new();

    private readonly DeviceCredential _credential;
    private readonly SimulatorOptions _options;
    private readonly Action<DeviceSettings>? _tune;
    private readonly IStore _store;
    private readonly WebSocketTransport _transport;
    private readonly SimulatedNetwork _network;
    private readonly SimulatedDht22 _sensor;
    private readonly SimulatedDeviceControl _device;
    private readonly SystemRandomSource _random;
    private readonly ILog _log;
    private volatile DeviceCore _core;
    private long _earlierTaken;
    private long _earlierAcked;
    private long _earlierDropped;
    private long _earlierRejected;
    private int _boots;

    internal SimulatedBoard(DeviceCredential credential, SimulatorOptions options, IStore store, ILogger logger, int seed, Action<DeviceSettings>? tune)
    {
        _credential = credential;
        _options = options;
        _tune = tune;
        _store = store;
        _transport = new WebSocketTransport(pin: options.TlsPin);
        _network = new SimulatedNetwork(_transport);
        _sensor = new SimulatedDht22(seed, options.SensorFailureRate);
        _device = new SimulatedDeviceControl(seed);
        _random = new SystemRandomSource(seed);
        _log = new LoggerLog(logger, credential.DeviceId);
        _core = Boot();
    }

    public string DeviceId => _credential.DeviceId;

    /// <summary>The current boot's number (persisted in the board's store).</summary>
    public long BootId => _core.BootId;

    /// <summary>The newest reading's seq in the current boot.</summary>
    public long LastSeq => _core.LastSeq;

    /// <summary>Readings waiting for the gateway's acknowledgement.</summary>
    public int Buffered => _core.Buffered;

    /// <summary>Valid readings taken, over all boots of this run.</summary>
    public long ReadingsTaken => Interlocked.Read(ref _earlierTaken) + _core.ReadingsTaken;

    /// <summary>Readings the gateway acknowledged, over all boots of this run.</summary>
    public long ReadingsAcked => Interlocked.Read(ref _earlierAcked) + _core.ReadingsAcked;

    /// <summary>Readings lost to buffer overflow, over all boots of this run.</summary>
    public long ReadingsDropped => Interlocked.Read(ref _earlierDropped) + _core.ReadingsDropped;

    /// <summary>Readings the gateway refused as invalid, over all boots of this run.</summary>
    public long ReadingsRejected => Interlocked.Read(ref _earlierRejected) + _core.ReadingsRejected;

    /// <summary>Failed sensor reads in the current boot.</summary>
    public long SensorFailures => _core.SensorFailures;

    /// <summary>True while authenticated on a link.</summary>
    public bool IsRunning => _core.IsRunning;

    /// <summary>The connection state, for progress output.</summary>
    public ConnectionState State => _core.State;

    /// <summary>The gateway URL the board is on or tries next.</summary>
    public string CurrentGatewayUrl => _core.CurrentGatewayUrl;

    /// <summary>Times the current boot moved on to the next gateway URL.</summary>
    public long Failovers => _core.Failovers;

    /// <summary>Times the gateway refused the board's token.</summary>
    public long AuthRefusals => _core.AuthRefusals;

    /// <summary>Close status of the last link that ended.</summary>
    public int LastCloseCode => _core.LastCloseCode;

    /// <summary>Boots so far (1 after start, +1 per reboot).</summary>
    public int Boots => Volatile.Read(ref _boots);

    /// <summary>How often identify was called.</summary>
    public int IdentifyCount => _device.IdentifyCount;

    /// <summary>Cuts the WebSocket without a close handshake; the board reconnects and replays.</summary>
    public void DropLink() => _network.DropLink();

    /// <summary>While true the gateway cannot be reached: links drop and connects fail.</summary>
    public bool GatewayUnreachable
    {
        get => _network.Unreachable;
        set => _network.Unreachable = value;
    }

    /// <summary>While true every DHT22 read fails.</summary>
    public bool SensorFailing
    {
        get => _sensor.ForcedFailing;
        set => _sensor.ForcedFailing = value;
    }

    internal DeviceCore Core => _core;

    /// <summary>One loop step; reboots here when the core asked for it.</summary>
    internal void Tick()
    {
        _core.Tick();
        if (!_device.RebootRequested) return;
        _device.RebootRequested = false;
        var old = _core;
        Interlocked.Add(ref _earlierTaken, old.ReadingsTaken);
        Interlocked.Add(ref _earlierAcked, old.ReadingsAcked);
        Interlocked.Add(ref _earlierDropped, old.ReadingsDropped);
        Interlocked.Add(ref _earlierRejected, old.ReadingsRejected);
        _core = Boot();
    }

    /// <summary>Stops the core (closing the link with 1001) and waits briefly for the close.</summary>
    internal async ValueTask StopAsync()
    {
        _core.Stop();
        await _transport.ShutdownAsync().ConfigureAwait(false);
    }

    private DeviceCore Boot()
    {
        var urls = _options.EffectiveGatewayUrls.Select(u => u.ToString()).ToArray();
        var settings = new DeviceSettings
        {
            GatewayUrl = urls[0],
            GatewayUrls = urls,
            DeviceId = _credential.DeviceId,
            Token = _credential.Token,
            ReadingIntervalMs = (int)_options.ReadingInterval.TotalMilliseconds,
            HeartbeatIntervalMs = (int)_options.HeartbeatInterval.TotalMilliseconds,
            Location = "simulated",
        };
        _tune?.Invoke(settings);
        var core = new DeviceCore(settings, new DevicePorts
        {
            Transport = _network,
            Sensor = _sensor,
            Clock = SystemClock.Instance,
            Store = _store,
            Device = _device,
            Log = _log,
            Json = Json,
            Random = _random,
        });
        core.Start();
        Interlocked.Increment(ref _boots);
        return core;
    }
}
