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
        var session = new ClientSession(socket, clientId, context.Connection.RemoteIpAddress, _options.OutboxCapacity, _options.HeartbeatInterval, time.GetUtcNow());

        if (lifetime.ApplicationStopping.IsCancellationRequested || !registry.TryAdd(session, _options.MaxConnections))
        {
            var reason = lifetime.ApplicationStopping.IsCancellationRequested ? "gateway shutting down" : "gateway full: try again later";
            if (!lifetime.ApplicationStopping.IsCancellationRequested) GatewayLog.Full(logger, registry.Count, _options.MaxConnections);
            await CloseQuietly(socket, CloseCodes.TryAgainLater, reason);
            return;
        }

        session.Outbox.Stuck += () => session.Close(CloseCodes.PolicyViolation, "slow consumer: outbox overflowed");
        GatewayLog.Connected(logger, clientId, context.Connection.RemoteIpAddress?.ToString());
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

        try
        {
            await ReadLoopAsync(session);
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
            events.OnDisconnected(session);
            GatewayLog.Disconnected(logger, clientId, session.CloseCode, session.CloseReason, session.DeviceId);
        }
    }

    private async Task ReadLoopAsync(ClientSession session)
    {
        var socket = session.Socket;
        var max = _options.MaxPayloadSize;
        var size = Math.Min(max + 1, 1 << 20);
        byte[]? buffer = null;
        var limiter = new RateLimiter(_options.RateLimit, time.GetTimestamp());
        session.Items["rate"] = limiter;
        try
        {
            while (!session.IsClosing)
            {
                var length = 0;
                var big = (byte[]?)null;
                // An idle connection holds no receive buffer: a zero-byte read waits for the next frame, and the
                // buffer goes back to the pool whenever that read has to wait (docs/performance.md, idle benchmark).
                var next = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                if (!next.IsCompleted && buffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }
                var result = await next;
                buffer ??= ArrayPool<byte>.Shared.Rent(size);
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close)
                {
                    var target = big ?? buffer;
                    if (length == target.Length)
                    {
                        // Grow past the first rented block only for messages that fit the limit.
                        big = new byte[Math.Min(max + 1, target.Length * 2)];
                        Buffer.BlockCopy(target, 0, big, 0, length);
                        target = big;
                    }
                    // Not cancellable on purpose: cancelling a receive aborts the socket before our close frame goes out.
                    result = await socket.ReceiveAsync(target.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                    if (length > max)
                    {
                        GatewayLog.ClosedByGateway(logger, session.ClientId, CloseCodes.MessageTooBig, "message too big");
                        session.Close(CloseCodes.MessageTooBig, $"message exceeds maxPayloadSize {max} bytes");
                        return;
                    }
                }

                metrics.MessageIn();
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    session.Close(socket.CloseStatus is { } cs ? (int)cs : CloseCodes.Normal, "closed by client");
                    return;
                }

                switch (limiter.Take(time.GetTimestamp(), time.TimestampFrequency))
                {
                    case RateLimiter.Verdict.Reject:
                        session.SendError(ErrorCodes.RateLimited, $"More than {_options.RateLimit.MessagesPerSecond} messages/s (burst {_options.RateLimit.Burst}); this message was not processed.");
                        continue;
                    case RateLimiter.Verdict.Close:
                        GatewayLog.ClosedByGateway(logger, session.ClientId, CloseCodes.RateLimited, "rate limit exceeded repeatedly");
                        session.Close(CloseCodes.RateLimited, "rate limit exceeded repeatedly");
                        return;
                }

                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    session.SendError(ErrorCodes.UnsupportedBinary, "Binary frames are not supported: send JSON as text frames.");
                    continue;
                }

                var bytes = (big ?? buffer).AsMemory(0, length);
                JsonDocument document;
                try
                {
                    document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 32 });
                }
                catch (JsonException e)
                {
                    session.SendError(ErrorCodes.InvalidJson, $"The message is not valid JSON: {e.Message}");
                    continue;
                }
                using (document)
                {
                    await dispatcher.DispatchAsync(session, document.RootElement, session.Closing);
                }
            }
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task WriteLoopAsync(ClientSession session)
    {
        await Task.Yield();
        var socket = session.Socket;
        try
        {
            while (await session.Outbox.DequeueAsync(CancellationToken.None) is { } payload)
            {
                using var sendTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await socket.SendAsync(payload, WebSocketMessageType.Text, true, sendTimeout.Token);
                metrics.MessageOut();
            }
            if (session.CloseCode is { } code && socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                if (code != CloseCodes.Normal || socket.State == WebSocketState.CloseReceived)
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
