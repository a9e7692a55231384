using System.Buffers;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text.Json;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Connections;

/// <summary>The /ws endpoint: accepts a WebSocket and runs one connection's read loop and write loop.</summary>
public sealed class DeviceSocketEndpoint(
    ConnectionRegistry registry,
    MessageDispatcher dispatcher,
    GatewayEvents events,
    IOptions<GatewayOptions> options,
    TimeProvider time,
    IotWs.Gateway.Status.GatewayMetrics metrics,
    IHostApplicationLifetime lifetime,
    ILogger<DeviceSocketEndpoint> logger)
{
    private readonly GatewayOptions _options = options.Value;
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(30);
    /// <summary>How long a closing connection's peer gets to take what is queued and the close frame.</summary>
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(5);
    private const string ClosedByClient = "closed by client";

    public async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("This is the IotWs WebSocket endpoint: connect with a WebSocket client.");
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = TimeSpan.FromSeconds(30) });
        var clientId = "c_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var session = new ClientSession(socket, clientId, context.Connection.RemoteIpAddress, _options.OutboxCapacity, _options.HeartbeatInterval, time.GetUtcNow(), metrics.MessageOut);

        if (lifetime.ApplicationStopping.IsCancellationRequested || !registry.TryAdd(session, _options.MaxConnections))
        {
            var reason = lifetime.ApplicationStopping.IsCancellationRequested ? "gateway shutting down" : "gateway full: try again later";
            if (!lifetime.ApplicationStopping.IsCancellationRequested) GatewayLog.Full(logger, registry.Count, _options.MaxConnections);
            await CloseQuietly(socket, CloseCodes.TryAgainLater, reason);
            return;
        }

        session.Outbox.Stuck += () => session.Close(CloseCodes.PolicyViolation, "slow consumer: the peer stopped reading");
        GatewayLog.Connected(logger, clientId, GatewayLog.Remote(context.Connection.RemoteIpAddress));
        events.OnConnected(session);
        using var stopping = lifetime.ApplicationStopping.Register(() => session.Close(CloseCodes.TryAgainLater, "gateway shutting down"));
        var writer = WriteLoopAsync(session);
        using var authTimer = _options.AuthRequired
            ? time.CreateTimer(_ => { if (!session.IsAuthenticated) session.Close(CloseCodes.AuthFailed, "authentication timed out"); }, null, _options.AuthTimeout, Timeout.InfiniteTimeSpan)
            : null;

        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.Welcome);
            w.WriteString(Fields.ClientId, clientId);
            w.WriteBoolean(Fields.AuthRequired, _options.AuthRequired);
            w.WriteNumber(Fields.ProtocolVersion, ProtocolInfo.Version);
            w.WriteString(Fields.ServerTime, WireJson.Time(time.GetUtcNow()));
            w.WriteNumber(Fields.HeartbeatInterval, (long)_options.HeartbeatInterval.TotalMilliseconds);
            w.WriteNumber(Fields.MaxPayloadSize, _options.MaxPayloadSize);
            w.WriteEndObject();
        });
        if (!_options.AuthRequired)
        {
            session.Role = Roles.Viewer;
            session.Principal = "anonymous";
        }

        var refusedFrame = false;
        try
        {
            await ReadLoopAsync(session);
        }
        catch (WebSocketException e) when (e.WebSocketErrorCode == WebSocketError.Faulted && !session.IsClosing)
        {
            // The WebSocket layer refused a frame and has already sent its close frame (RFC 6455 §7.1.7): 1007 for a
            // text frame that is not UTF-8, 1002 for a broken frame. Say so, with the code the peer was sent.
            refusedFrame = true;
            var (code, reason) = session.ReadingTextPayload && e.Message == DefaultFaultedMessage
                ? (CloseCodes.InvalidPayload, "invalid UTF-8 in a text frame")
                : (CloseCodes.ProtocolError, "broken WebSocket frame: " + e.Message);
            GatewayLog.ClosedByGateway(logger, clientId, code, reason);
            session.Close(code, reason);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            // The peer went away or the connection is closing: nothing more to read.
        }
        finally
        {
            session.Close(session.CloseCode ?? CloseCodes.Normal, session.CloseReason ?? "closed");
            registry.Remove(session);
            await writer;
            if (refusedFrame)
            {
                // The refused socket is already aborted, but its close frame may still sit in Kestrel's output: ending the
                // request now would reset the TCP connection under it. Wait for the peer to take it and hang up.
                try { await Task.Delay(CloseGrace, context.RequestAborted); } catch (OperationCanceledException) { }
            }
            events.OnDisconnected(session);
            GatewayLog.Disconnected(logger, session);
        }
    }

    /// <summary>The message of the exception the WebSocket layer throws after refusing invalid UTF-8 (it gives no text of its own).</summary>
    private static readonly string DefaultFaultedMessage = new WebSocketException(WebSocketError.Faulted).Message;

    private async Task ReadLoopAsync(ClientSession session)
    {
        var socket = session.Socket;
        var max = _options.MaxPayloadSize;
        var limiter = new RateLimiter(_options.RateLimit, time.GetTimestamp());
        while (!session.IsClosing)
        {
            // Wait for the next frame without holding a buffer, so an idle connection costs no receive memory.
            // Not cancellable on purpose: cancelling a receive aborts the socket before our close frame goes out.
            var first = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
            if (first.MessageType == WebSocketMessageType.Close)
            {
                session.Close(socket.CloseStatus is { } cs ? (int)cs : CloseCodes.Normal, ClosedByClient);
                return;
            }
            var buffer = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                var length = 0;
                var result = first;
                session.ReadingTextPayload = first.MessageType == WebSocketMessageType.Text;
                while (!result.EndOfMessage)
                {
                    if (length == buffer.Length)
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(max + 1, buffer.Length * 2));
                        Buffer.BlockCopy(buffer, 0, bigger, 0, length);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                    result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        session.Close(socket.CloseStatus is { } cs ? (int)cs : CloseCodes.Normal, ClosedByClient);
                        return;
                    }
                    length += result.Count;
                    if (length > max)
                    {
                        session.Close(CloseCodes.MessageTooBig, $"message exceeds maxPayloadSize {max} bytes");
                        return;
                    }
                }
                session.ReadingTextPayload = false;
                metrics.MessageIn();
                await ProcessAsync(session, limiter, first.MessageType, buffer.AsMemory(0, length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Rate limit, frame type, JSON parse, then dispatch. The bytes are only valid during this call.</summary>
    private async ValueTask ProcessAsync(ClientSession session, RateLimiter limiter, WebSocketMessageType type, Memory<byte> bytes)
    {
        switch (limiter.Take(time.GetTimestamp(), time.TimestampFrequency))
        {
            case RateLimiter.Verdict.Reject:
                session.SendError(ErrorCodes.RateLimited, $"More than {_options.RateLimit.MessagesPerSecond} messages/s (burst {_options.RateLimit.Burst}); this message was not processed.");
                return;
            case RateLimiter.Verdict.Close:
                session.Close(CloseCodes.RateLimited, "rate limit exceeded repeatedly");
                return;
        }
        if (type == WebSocketMessageType.Binary)
        {
            session.SendError(ErrorCodes.UnsupportedBinary, "Binary frames are not supported: send JSON as text frames.");
            return;
        }
        switch (WireMessage.TryParse(bytes, out var document, out var error))
        {
            case WireMessage.Outcome.NotUtf8:
                // The WebSocket layer refuses such a frame before it reaches us (see ReadLoopAsync); this is the second line.
                session.Close(CloseCodes.InvalidPayload, "invalid UTF-8 in a text frame");
                return;
            case WireMessage.Outcome.NotJson:
                session.SendError(ErrorCodes.InvalidJson, error);
                return;
        }
        using (document)
        {
            await dispatcher.DispatchAsync(session, document!.RootElement, session.Closing);
        }
    }

    /// <summary>
    /// Sends what the outbox queued (replies go straight to the socket when it is idle, see ClientSession.Send), then
    /// the close frame. A send that has not completed after SendTimeout means the peer stopped reading: the slow-consumer
    /// policy (1008, counted), the same as an overflowing outbox. Once closing, the peer gets CloseGrace to take what is
    /// left and the close frame; a send it still blocks then is ended by aborting the socket.
    /// </summary>
    private async Task WriteLoopAsync(ClientSession session)
    {
        await Task.Yield();
        var socket = session.Socket;
        var outbox = session.Outbox;
        using var grace = new CancellationTokenSource();
        using var onClosing = session.Closing.Register(() =>
        {
            try { grace.CancelAfter(CloseGrace); } catch (ObjectDisposedException) { }
        });
        using var abort = grace.Token.Register(socket.Abort);
        try
        {
            while (await outbox.NextAsync(CancellationToken.None) is { End: false } work)
            {
                try
                {
                    if (work.HandedOver is { } pending)
                    {
                        await WithinSendTimeout(session, pending);
                    }
                    else
                    {
                        var send = socket.SendAsync(work.Message!.Value.Memory, WebSocketMessageType.Text, true, CancellationToken.None);
                        if (!send.IsCompletedSuccessfully) await WithinSendTimeout(session, send.AsTask());
                        metrics.MessageOut();
                    }
                }
                finally
                {
                    outbox.Sent(work);
                }
            }
            if (session.CloseCode is { } code && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                // Every close the gateway decides is logged once, here (a close the client started is its own business).
                if (session.CloseReason != ClosedByClient && (code != CloseCodes.Normal || socket.State == WebSocketState.CloseReceived))
                {
                    GatewayLog.ClosedByGateway(logger, session.ClientId, code, session.CloseReason ?? "");
                }
                using var closeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.CloseOutputAsync((WebSocketCloseStatus)code, session.CloseReason, closeTimeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            session.Close(CloseCodes.Normal, "connection lost");
        }
        finally
        {
            if (socket.State is not (WebSocketState.Closed or WebSocketState.Aborted) && session.CloseCode is not null)
            {
                // Give the peer a moment to answer the close frame, then drop the TCP connection.
                _ = Task.Delay(TimeSpan.FromSeconds(5)).ContinueWith(_ => socket.Abort(), TaskScheduler.Default);
            }
        }
    }

    /// <summary>Waits for a send; past SendTimeout the peer is a slow consumer (closing starts the grace), and the wait goes on until the send ends.</summary>
    private static async Task WithinSendTimeout(ClientSession session, Task send)
    {
        try
        {
            await send.WaitAsync(SendTimeout);
        }
        catch (TimeoutException)
        {
            session.Outbox.MarkStuck();
            await send;
        }
    }

    private static async Task CloseQuietly(WebSocket socket, int code, string reason)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, timeout.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
        }
    }
}
