using System.Buffers;
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

    private readonly Action? _messageSent;

    internal ClientSession(WebSocket socket, string clientId, IPAddress? remote, int outboxCapacity, TimeSpan heartbeatInterval, DateTimeOffset now, Action? messageSent = null)
    {
        _socket = socket;
        _messageSent = messageSent;
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
    /// <summary>When auth succeeded (a device's newer connection anywhere in the cluster wins by this time).</summary>
    public DateTimeOffset? AuthenticatedAt { get; internal set; }

    public Outbox Outbox { get; }
    /// <summary>When (Stopwatch ticks) this connection's last store request was answered; 0 before the first.</summary>
    internal long LastAckAt { get => Volatile.Read(ref _lastAckAt); set => Volatile.Write(ref _lastAckAt, value); }
    private long _lastAckAt;
    /// <summary>Whether this connection's last store request came within the follow window of its ack (read loop only).</summary>
    internal bool FollowedAck { get; set; }
    /// <summary>Cancelled when the connection starts closing.</summary>
    public CancellationToken Closing => _closing.Token;
    public bool IsClosing => Volatile.Read(ref _closeRequested) != 0;
    public int? CloseCode { get; private set; }

    /// <summary>Feature state kept per connection (streams, rate limiter, …); made on first use, as most connections never need one.</summary>
    public ConcurrentDictionary<string, object> Items =>
        Volatile.Read(ref _items) ?? Interlocked.CompareExchange(ref _items, new ConcurrentDictionary<string, object>(1, 1, StringComparer.Ordinal), null) ?? _items!;
    private ConcurrentDictionary<string, object>? _items;

    /// <summary>Reads an item without making <see cref="Items"/> (a check on every connection must not cost each one a dictionary).</summary>
    public bool TryGetItem(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out object value)
    {
        if (Volatile.Read(ref _items) is { } items) return items.TryGetValue(key, out value);
        value = null;
        return false;
    }

    public bool IsDevice => Role == Roles.Device;

    /// <summary>Sends a reply (straight to the socket when its outbox is idle, else queued); replies are never dropped.</summary>
    public bool Send(byte[] utf8Json) => Deliver(OutboxMessage.Of(utf8Json, droppable: false));

    /// <summary>Sends a fan-out message that may be dropped (oldest first) when this peer lags.</summary>
    public bool SendDroppable(byte[] utf8Json) => Deliver(OutboxMessage.Of(utf8Json, droppable: true));

    /// <summary>Writes a reply with a reused writer into a pooled buffer (returned once sent) and sends it.</summary>
    public bool Send(Action<Utf8JsonWriter> write) => Send(write, static (w, write) => write(w));

    /// <summary>As <see cref="Send(Action{Utf8JsonWriter})"/>, with the writer's state passed in (no closure per message).</summary>
    public bool Send<TState>(TState state, Action<Utf8JsonWriter, TState> write)
    {
        var writer = ReplyWriter.Take();
        try
        {
            write(writer.Json, state);
            writer.Json.Flush();
            var length = writer.Buffer.WrittenCount;
            var rented = ArrayPool<byte>.Shared.Rent(length);
            writer.Buffer.WrittenSpan.CopyTo(rented);
            return Deliver(OutboxMessage.PooledReply(rented, length));
        }
        finally
        {
            writer.Return();
        }
    }

    /// <summary>
    /// Straight to the socket when nothing is queued or being sent (the common case: no hop to the connection's
    /// writer), else onto the outbox. A direct send that cannot complete at once is handed to the writer, so the
    /// caller (the acks thread, a publisher) never waits for this peer.
    /// </summary>
    private bool Deliver(OutboxMessage message)
    {
        if (!Outbox.TryStartDirect()) return Outbox.Enqueue(message);
        ValueTask send;
        try
        {
            send = _socket.SendAsync(message.Memory, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }
        catch (Exception e)
        {
            // Closed or aborted under us: the writer sees the same failure and ends the connection.
            send = ValueTask.FromException(e);
        }
        if (send.IsCompletedSuccessfully)
        {
            Outbox.DirectDone();
            message.Release();
            _messageSent?.Invoke();
            return true;
        }
        Outbox.HandOver(FinishAsync(send, message));
        return true;
    }

    private async Task FinishAsync(ValueTask send, OutboxMessage message)
    {
        try
        {
            await send;
            _messageSent?.Invoke();
        }
        finally
        {
            message.Release();
        }
    }

    /// <summary>A Utf8JsonWriter and its buffer, one per thread, reused for every reply written on that thread.</summary>
    private sealed class ReplyWriter
    {
        [ThreadStatic] private static ReplyWriter? t_cached;
        private const int KeepUpTo = 16 * 1024;

        public ArrayBufferWriter<byte> Buffer { get; } = new(512);
        public Utf8JsonWriter Json { get; }

        private ReplyWriter() => Json = new Utf8JsonWriter(Buffer, WireJson.WriterOptions);

        public static ReplyWriter Take()
        {
            var writer = t_cached;
            // A reply written while writing another (or on a new thread) gets a writer of its own.
            if (writer is null) return new ReplyWriter();
            t_cached = null;
            return writer;
        }

        public void Return()
        {
            // A large reply would keep its buffer for good: let that one go.
            if (Buffer.Capacity > KeepUpTo) return;
            Buffer.ResetWrittenCount();
            Json.Reset(Buffer);
            t_cached = this;
        }
    }

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
    /// <summary>True while the read loop takes in the payload of a text message (so a refusal by the WebSocket layer there is about its UTF-8).</summary>
    internal bool ReadingTextPayload { get; set; }
    internal WebSocket Socket => _socket;
}
