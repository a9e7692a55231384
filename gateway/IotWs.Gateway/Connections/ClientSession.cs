using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using IotWs.Protocol;
using IotWs.Gateway.Wire;

namespace IotWs.Gateway.Connections;

/// <summary>One WebSocket connection: who it is, what it subscribed to, and its outbox.</summary>
public sealed class ClientSession
{
    private readonly WebSocket _socket;
    private readonly CancellationTokenSource _closing = new();
    private int _closeRequested;

    internal ClientSession(WebSocket socket, string clientId, IPAddress? remote, int outboxCapacity, TimeSpan heartbeatInterval, DateTimeOffset now)
    {
        _socket = socket;
        ClientId = clientId;
        RemoteAddress = remote;
        Outbox = new Outbox(outboxCapacity);
        HeartbeatInterval = heartbeatInterval;
        ConnectedAt = now;
        LastSeen = now;
    }

    public string ClientId { get; }
    public IPAddress? RemoteAddress { get; }
    public DateTimeOffset ConnectedAt { get; }
    public DateTimeOffset LastSeen { get; set; }

    // From the handshake
    public bool HandshakeDone { get; internal set; }
    public string ClientType { get; internal set; } = ClientTypes.Application;
    public string? Version { get; internal set; }
    public IReadOnlyList<string> Capabilities { get; internal set; } = [];
    /// <summary>The deviceId the handshake named (our firmware sends it; seed clients do not).</summary>
    public string? ClaimedDeviceId { get; internal set; }
    public long? BootId { get; internal set; }
    public TimeSpan HeartbeatInterval { get; internal set; }

    // From auth
    public bool IsAuthenticated => Role is not null;
    public string? Role { get; internal set; }
    /// <summary>The device this connection authenticated as (device role only).</summary>
    public string? DeviceId { get; internal set; }
    /// <summary>Who is calling, for audit logs: the API key's name or "device:{id}".</summary>
    public string? Principal { get; internal set; }
    /// <summary>The identity auth proved (null for anonymous lab-mode viewers): revocation closes the session when it stops being current.</summary>
    public Identity.Identity? Credential { get; internal set; }

    public Outbox Outbox { get; }
    /// <summary>Cancelled when the connection starts closing.</summary>
    public CancellationToken Closing => _closing.Token;
    public bool IsClosing => Volatile.Read(ref _closeRequested) != 0;
    public int? CloseCode { get; private set; }

    /// <summary>Feature state kept per connection (streams, rate limiter, …).</summary>
    public ConcurrentDictionary<string, object> Items { get; } = new();

    public bool IsDevice => Role == Roles.Device;

    /// <summary>Queues a reply; replies are never dropped.</summary>
    public bool Send(byte[] utf8Json) => Outbox.Enqueue(utf8Json, droppable: false);

    /// <summary>Queues a fan-out message that may be dropped (oldest first) when this peer lags.</summary>
    public bool SendDroppable(byte[] utf8Json) => Outbox.Enqueue(utf8Json, droppable: true);

    public bool Send(Action<Utf8JsonWriter> write) => Send(WireJson.Write(write));

    /// <summary>{"type":"error","code":…,"message":…} with the requestId echoed when the message had one.</summary>
    public void SendError(string code, string message, string? requestId = null) =>
        Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.Error);
            w.WriteString(Fields.Code, code);
            w.WriteString(Fields.Message, message);
            if (requestId is not null) w.WriteString(Fields.RequestId, requestId);
            w.WriteEndObject();
        });

    /// <summary>Closes after what is already queued has been sent.</summary>
    public void Close(int code, string reason)
    {
        if (Interlocked.Exchange(ref _closeRequested, 1) != 0) return;
        CloseCode = code;
        CloseReason = reason;
        Outbox.Complete();
        _closing.Cancel();
    }

    internal string? CloseReason { get; private set; }
    internal WebSocket Socket => _socket;
}
