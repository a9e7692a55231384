using System.Collections;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Tests.Fakes;

/// <summary>A clock the test moves by hand; its wall time can be made unsynced like a fresh ESP32.</summary>
internal sealed class FakeClock : IClock
{
    private static readonly DateTime SyncedStart = new(2026, 11, 21, 12, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime UnsyncedStart = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public long TickCount { get; private set; } = 5_000;
    public bool Synced { get; set; } = true;
    public DateTime UtcNow => (Synced ? SyncedStart : UnsyncedStart).AddMilliseconds(TickCount);

    public void Advance(long ms) => TickCount += ms;
}

/// <summary>A gateway link the test scripts: it records what the device sends and delivers what the test says.</summary>
internal sealed class ScriptedTransport : ITransport
{
    private readonly Host.SystemTextJsonCodec _json = new();

    public bool AcceptConnects { get; set; } = true;
    public bool OpenOnConnect { get; set; } = true;
    public bool AcceptSends { get; set; } = true;
    public int Connects { get; private set; }
    public List<string> Urls { get; } = [];
    public ITransportListener? Listener { get; private set; }
    public List<string> Sent { get; } = [];
    public List<int> Closes { get; } = [];

    public bool Connect(string url, ITransportListener listener)
    {
        Connects++;
        Urls.Add(url);
        if (!AcceptConnects) return false;
        Listener = listener;
        if (OpenOnConnect) listener.OnOpened();
        return true;
    }

    public bool Send(string text)
    {
        if (!AcceptSends || Listener is null) return false;
        Sent.Add(text);
        return true;
    }

    public void Close(int closeCode)
    {
        Closes.Add(closeCode);
        Listener = null;
    }

    /// <summary>The gateway sends a message on the current link.</summary>
    public void Deliver(string json) => (Listener ?? throw new InvalidOperationException("no open link")).OnMessage(json);

    /// <summary>The gateway closes the current link with a status.</summary>
    public void ServerClose(int code)
    {
        var listener = Listener ?? throw new InvalidOperationException("no open link");
        Listener = null;
        listener.OnClosed(code);
    }

    /// <summary>Everything sent so far, parsed, and forgets it.</summary>
    public List<Hashtable> TakeSent()
    {
        var parsed = Sent.Select(s => _json.Parse(s)!).ToList();
        Sent.Clear();
        return parsed;
    }
}

/// <summary>A DHT22 that reads what the test sets, or fails on demand.</summary>
internal sealed class FakeSensor : ISensor
{
    public double Temperature { get; set; } = 21.5;
    public double Humidity { get; set; } = 45;
    public bool Failing { get; set; }
    public int Reads { get; private set; }

    public bool TryRead(out double temperature, out double humidity)
    {
        Reads++;
        temperature = Failing ? double.NaN : Temperature;
        humidity = Failing ? double.NaN : Humidity;
        return !Failing;
    }
}

/// <summary>The board: counts reboots and identifies, and lets the test see when a reboot happened.</summary>
internal sealed class FakeDevice : IDeviceControl
{
    public int Reboots { get; private set; }
    public int Identifies { get; private set; }
    public Action? OnReboot { get; set; }
    public long FreeMemory => 123_456;
    public int Rssi => -61;

    public void Reboot()
    {
        Reboots++;
        OnReboot?.Invoke();
    }

    public void Identify(int durationMs) => Identifies++;
}

/// <summary>Jitter that always picks the top of the range, so delays are their ceilings and tests are exact.</summary>
internal sealed class HighestRandom : IRandomSource
{
    public int Next(int maxExclusive) => maxExclusive - 1;
}

/// <summary>Keeps log lines for assertions and failure messages.</summary>
internal sealed class ListLog : ILog
{
    public List<string> Lines { get; } = [];
    public void Info(string message) => Lines.Add("info: " + message);
    public void Warn(string message) => Lines.Add("warn: " + message);
}
