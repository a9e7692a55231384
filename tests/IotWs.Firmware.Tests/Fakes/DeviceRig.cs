using System.Collections;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;
using IotWs.Protocol;

namespace IotWs.Firmware.Tests.Fakes;

/// <summary>A DeviceCore on fakes, with the gateway's side of the conversation at hand.</summary>
internal sealed class DeviceRig
{
    public FakeClock Clock { get; } = new();
    public ScriptedTransport Transport { get; } = new();
    public FakeSensor Sensor { get; } = new();
    public FakeDevice Device { get; } = new();
    public ListLog Log { get; } = new();
    public IStore Store { get; }
    public DeviceSettings Settings { get; }
    public DeviceCore Core { get; private set; }

    private readonly ISensor _sensor;

    public DeviceRig(Action<DeviceSettings>? tune = null, IStore? store = null, ISensor? sensor = null)
    {
        _sensor = sensor ?? Sensor;
        Store = store ?? new InMemoryStore();
        Settings = NewSettings(tune);
        Core = NewCore(Settings);
        Core.Start();
    }

    public static DeviceSettings NewSettings(Action<DeviceSettings>? tune = null)
    {
        var s = new DeviceSettings
        {
            GatewayUrl = "ws://gateway.test/ws",
            DeviceId = "esp32-kitchen",
            Token = "tok-123",
            ReadingIntervalMs = 2000,
            HeartbeatIntervalMs = 30000,
        };
        tune?.Invoke(s);
        return s;
    }

    /// <summary>A new boot of the same board: same store and fakes, a fresh core.</summary>
    public DeviceCore Reboot(Action<DeviceSettings>? tune = null)
    {
        Core = NewCore(NewSettings(tune));
        Core.Start();
        return Core;
    }

    private DeviceCore NewCore(DeviceSettings settings) => new(settings, new DevicePorts
    {
        Transport = Transport,
        Sensor = _sensor,
        Clock = Clock,
        Store = Store,
        Device = Device,
        Log = Log,
        Json = new SystemTextJsonCodec(),
        Random = new HighestRandom(),
    });

    public void Tick() => Core.Tick();

    /// <summary>Moves time forward in 50 ms steps, ticking at each.</summary>
    public void Advance(long ms, long step = 50)
    {
        for (long done = 0; done < ms; done += step)
        {
            Clock.Advance(Math.Min(step, ms - done));
            Core.Tick();
        }
    }

    /// <summary>Connect, welcome, auth ok: the device ends in Running with its handshake messages taken.</summary>
    public void ConnectAndAuthenticate()
    {
        Tick(); // connects
        Tick(); // handles the open report
        Assert.Equal(ConnectionState.AwaitWelcome, Core.State);
        Transport.Deliver(Welcome());
        Tick();
        Assert.Equal(ConnectionState.AwaitAuth, Core.State);
        Transport.Deliver(AuthOk());
        Tick();
        Assert.Equal(ConnectionState.Running, Core.State);
        Transport.TakeSent();
    }

    /// <summary>
    /// Lets the device back onto the gateway: stops taking readings (so the backlog stays what the
    /// test built), waits out the backoff and completes welcome and auth.
    /// </summary>
    public void ReconnectWithBacklog()
    {
        Sensor.Failing = true;
        Transport.AcceptConnects = true;
        var connects = Transport.Connects;
        for (var i = 0; i < 100_000 && Transport.Connects == connects; i++) Advance(50);
        Tick();
        Transport.Deliver(Welcome());
        Tick();
        Transport.Deliver(AuthOk());
        Tick();
        Assert.Equal(ConnectionState.Running, Core.State);
    }

    public List<Hashtable> Sent(string type) => Transport.TakeSent().Where(m => (string?)m[Fields.Type] == type).ToList();

    public static string Welcome(bool authRequired = true) =>
        $$"""{"type":"welcome","clientId":"c_1","authRequired":{{(authRequired ? "true" : "false")}},"protocolVersion":1,"serverTime":"2026-11-21T12:00:00.000Z","heartbeatInterval":30000,"maxPayloadSize":65536}""";

    public static string AuthOk() => """{"type":"auth_response","success":true,"clientId":"c_1","role":"device","deviceId":"esp32-kitchen"}""";

    public static string AuthFailed() => """{"type":"auth_response","success":false,"error":"auth_failed","message":"bad token"}""";

    public static string Ack(long seq, long insertId, bool duplicate = false) =>
        $$"""{"type":"data_response","success":true,"insertId":{{insertId}},"seq":{{seq}}{{(duplicate ? ",\"duplicate\":true" : "")}}}""";

    public static string Request(string requestId, string endpoint, string data = "{}") =>
        $$"""{"type":"request","requestId":"{{requestId}}","endpoint":"{{endpoint}}","data":{{data}}}""";

    /// <summary>A data_response for a batch: every seq stored, with made-up insert ids.</summary>
    public static string BatchAck(IEnumerable<long> seqs) =>
        """{"type":"data_response","success":true,"results":[""" + string.Join(",", seqs.Select(s => $$"""{"seq":{{s}},"insertId":{{1000 + s}}}""")) + "]}";

    /// <summary>The seq of every reading in a sent data message, single or batch form.</summary>
    public static List<long> Seqs(Hashtable data)
    {
        var seqs = new List<long>();
        if (data[Fields.Batch] is ArrayList batch)
        {
            foreach (Hashtable item in batch) seqs.Add(Convert.ToInt64(item[Fields.Seq], System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            seqs.Add(Convert.ToInt64(data[Fields.Seq], System.Globalization.CultureInfo.InvariantCulture));
        }
        return seqs;
    }
}
