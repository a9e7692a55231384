using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IotWs.Mqtt;

/// <summary>
/// MQTT 3.1.1 client over TCP or TLS: QoS 0 and 1, keep-alive, automatic reconnect with jittered backoff,
/// a bounded outgoing queue, and subscriptions restored after every reconnect.
/// </summary>
public sealed class MqttClient : IMqttClient
{
    private readonly MqttClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Random _random;

    // One lock guards all shared state below; it is never held across an await.
    private readonly Lock _lock = new();
    private readonly Queue<MqttApplicationMessage> _outbox = new();
    private readonly Dictionary<ushort, Inflight> _inflight = [];
    private readonly Dictionary<ushort, TaskCompletionSource<MqttPacket?>> _pendingAcks = [];
    private readonly Dictionary<string, MqttQos> _subscriptions = new(StringComparer.Ordinal);

    // Wakes the writer; capacity 1 so repeated signals collapse into one.
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    private Session? _session;
    private CancellationTokenSource? _stop;
    private Task? _run;
    private TaskCompletionSource? _firstConnect;
    private TaskCompletionSource? _drained;
    private ushort _lastPacketId;
    private long _sequence;
    private long _dropped;
    private int _reconnects;
    private bool _everConnected;
    private bool _disposed;
    private string? _lastError;

    public MqttClient(MqttClientOptions options, ILogger<MqttClient>? logger = null, TimeProvider? timeProvider = null, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _random = random ?? Random.Shared;
    }

    public event Func<MqttApplicationMessage, Task>? MessageReceived;

    public event Func<MqttConnectedEventArgs, Task>? Connected;

    public bool IsConnected
    {
        get
        {
            lock (_lock)
            {
                return _session is not null;
            }
        }
    }

    public MqttClientStatus Status
    {
        get
        {
            lock (_lock)
            {
                return new MqttClientStatus(_session is not null, _outbox.Count, _inflight.Count, _dropped, _reconnects, _lastError);
            }
        }
    }

    public Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        Task first;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_run is null || _run.IsCompleted)
            {
                _stop?.Dispose();
                _stop = new CancellationTokenSource();
                _firstConnect = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var stop = _stop.Token;
                var firstConnect = _firstConnect;
                _run = Task.Run(() => RunAsync(firstConnect, stop), CancellationToken.None);
            }

            first = _firstConnect!.Task;
        }

        return first.WaitAsync(cancellationToken);
    }

    public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, MqttQos qos = MqttQos.AtMostOnce, bool retain = false, CancellationToken cancellationToken = default)
    {
        // Validate here: a packet that cannot be encoded must fail the caller, not the writer loop.
        var topicBytes = CheckedByteCount(topic, MqttTopic.IsValidTopicName(topic), "topic name");
        CheckQos(qos);
        if (payload.Length > MqttPacketCodec.MaxRemainingLength - topicBytes - 4)
        {
            throw new ArgumentException("The payload is too large for one MQTT packet.", nameof(payload));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var message = new MqttApplicationMessage(topic, payload.ToArray(), qos, retain);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_outbox.Count >= _options.MaxQueued)
            {
                _outbox.Dequeue();
                _dropped++;
                if ((_dropped & (_dropped - 1)) == 0)
                {
                    // Logged at 1, 2, 4, 8, ... drops: visible without flooding the log during a long outage.
                    MqttClientLog.Dropped(_logger, _options.MaxQueued, _dropped);
                }
            }

            _outbox.Enqueue(message);
        }

        Signal();
        return Task.CompletedTask;
    }

    public async Task SubscribeAsync(string topicFilter, MqttQos qos = MqttQos.AtMostOnce, CancellationToken cancellationToken = default)
    {
        CheckedByteCount(topicFilter, MqttTopic.IsValidTopicFilter(topicFilter), "topic filter");
        CheckQos(qos);
        (ushort Id, Task<MqttPacket?> Reply)? pending = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _subscriptions[topicFilter] = qos;
            if (_session is { } session)
            {
                pending = EnqueueAwaitingAckLocked(session, id => new SubscribePacket(id, [new MqttTopicFilter(topicFilter, qos)]));
            }
        }

        if (pending is null)
        {
            return; // sent with the others once connected
        }

        Signal();
        var reply = await WaitForAckAsync(pending.Value.Id, pending.Value.Reply, cancellationToken);
        if (reply is SubAckPacket { ReturnCodes: [MqttSubscribeReturnCode.Failure] })
        {
            lock (_lock)
            {
                _subscriptions.Remove(topicFilter);
            }

            throw new MqttException($"The broker refused the subscription to '{topicFilter}'.");
        }
    }

    public async Task UnsubscribeAsync(string topicFilter, CancellationToken cancellationToken = default)
    {
        CheckedByteCount(topicFilter, MqttTopic.IsValidTopicFilter(topicFilter), "topic filter");
        (ushort Id, Task<MqttPacket?> Reply)? pending = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_subscriptions.Remove(topicFilter) && _session is { } session)
            {
                pending = EnqueueAwaitingAckLocked(session, id => new UnsubscribePacket(id, [topicFilter]));
            }
        }

        if (pending is not null)
        {
            Signal();
            await WaitForAckAsync(pending.Value.Id, pending.Value.Reply, cancellationToken);
        }
    }

    public async Task DisconnectAsync(CancellationToken cancellationToken = default)
    {
        Task? run;
        CancellationTokenSource? stop;
        Task? drained = null;
        lock (_lock)
        {
            run = _run;
            stop = _stop;
            if (run is null || stop is null)
            {
                return;
            }

            _run = null;
            _stop = null;
            if (_session is not null && (_outbox.Count > 0 || _inflight.Count > 0))
            {
                _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                drained = _drained.Task;
            }
        }

        try
        {
            if (drained is not null)
            {
                try
                {
                    await drained.WaitAsync(_options.AckTimeout, _time, cancellationToken);
                }
                catch (TimeoutException)
                {
                    var status = Status;
                    MqttClientLog.DisconnectUndrained(_logger, status.QueuedCount, status.InflightCount);
                }
            }

            Task? written = null;
            lock (_lock)
            {
                _drained = null;
                if (_session is { } session)
                {
                    // Closing tells the run loop the coming end of the connection is ours, not a loss.
                    session.Closing = true;
                    var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    session.Control.Enqueue(new Outgoing(DisconnectPacket.Instance, Written: sent));
                    written = sent.Task;
                }
            }

            Signal();
            if (written is not null)
            {
                await written.WaitAsync(_options.AckTimeout, _time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            stop.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await DisconnectAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Disposal is best effort; the run loop was cancelled in DisconnectAsync's finally.
        }

        lock (_lock)
        {
            _disposed = true;
        }
    }

    /// <summary>Drops the TCP connection without DISCONNECT and stops, as if the process had died.</summary>
    internal void AbortForTest()
    {
        Session? session;
        CancellationTokenSource? stop;
        lock (_lock)
        {
            session = _session;
            stop = _stop;
            _run = null;
            _stop = null;
            if (session is not null)
            {
                session.Closing = true;
            }
        }

        session?.Close(reset: true);
        stop?.Cancel();
    }

    private async Task RunAsync(TaskCompletionSource firstConnect, CancellationToken stop)
    {
        var failures = 0;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                string reason;
                try
                {
                    await using var session = await OpenAsync(stop);
                    reason = await RunSessionAsync(session, firstConnect, stop);
                    if (session.Closing || stop.IsCancellationRequested)
                    {
                        break;
                    }

                    // A connection that dropped soon after it was made still counts against the backoff.
                    failures = _time.GetElapsedTime(session.ConnectedAt) >= _options.ReconnectMax ? 0 : failures + 1;
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    break;
                }
                catch (MqttConnectionRefusedException ex) when (ex.IsPermanent && !_everConnected)
                {
                    // Wrong credentials or client id at start-up: retrying cannot help, so tell ConnectAsync.
                    RecordError(ex);
                    MqttClientLog.ConnectRefused(_logger, _options.Host, _options.Port, ex.ReturnCode);
                    firstConnect.TrySetException(ex);
                    break;
                }
                catch (Exception ex)
                {
                    RecordError(ex);
                    reason = ex.Message;
                    failures++;
                }

                var delay = ReconnectBackoff.Delay(Math.Max(0, failures - 1), _options.ReconnectMin, _options.ReconnectMax, NextRandom());
                MqttClientLog.ConnectFailed(_logger, _options.Host, _options.Port, reason, delay);
                await Task.Delay(delay, _time, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped during the backoff delay.
        }
        finally
        {
            firstConnect.TrySetCanceled(CancellationToken.None);
        }
    }

    private async Task<Session> OpenAsync(CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(_options.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            await socket.ConnectAsync(new DnsEndPoint(_options.Host, _options.Port), timeout.Token);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (_options.UseTls)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                await tls.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions
                    {
                        TargetHost = _options.Host,
                        RemoteCertificateValidationCallback = _options.CertificateValidation,
                    },
                    timeout.Token);
            }

            var channel = new MqttChannel(stream, _options.MaxIncomingPacketSize);
            await channel.WriteAsync(BuildConnect(), timeout.Token);
            var reply = await channel.ReadAsync(timeout.Token);
            if (reply is not ConnAckPacket ack)
            {
                throw new MqttException($"The broker answered CONNECT with {reply.Type} instead of CONNACK.");
            }

            if (ack.ReturnCode != MqttConnectReturnCode.Accepted)
            {
                throw new MqttConnectionRefusedException(ack.ReturnCode);
            }

            return new Session(socket, stream, channel, ack.SessionPresent, _time.GetTimestamp());
        }
        catch (Exception ex)
        {
            if (stream is not null)
            {
                await stream.DisposeAsync();
            }

            socket.Dispose();
            if (ex is OperationCanceledException && !stop.IsCancellationRequested)
            {
                throw new TimeoutException($"No CONNACK from {_options.Host}:{_options.Port} within {_options.ConnectTimeout}.", ex);
            }

            throw;
        }
    }

    private ConnectPacket BuildConnect() => new(_options.ClientId)
    {
        Username = _options.Username,
        Password = _options.Password is null ? null : Encoding.UTF8.GetBytes(_options.Password),
        KeepAliveSeconds = (ushort)Math.Ceiling(_options.KeepAlive.TotalSeconds),
        CleanSession = _options.CleanSession,
        Will = _options.Will,
    };

    /// <summary>Runs one connection until it ends; returns why it ended.</summary>
    private async Task<string> RunSessionAsync(Session session, TaskCompletionSource firstConnect, CancellationToken stop)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, session.Cancellation.Token);
        var cancellationToken = linked.Token;
        (ushort Id, Task<MqttPacket?> Reply)? resubscribe = null;
        bool isReconnect;
        lock (_lock)
        {
            // Unacknowledged QoS 1 messages go first, with DUP (spec 4.4), then the subscriptions.
            foreach (var entry in _inflight.Values.OrderBy(e => e.Sequence))
            {
                session.Control.Enqueue(new Outgoing(entry.Packet with { Dup = true }, entry));
            }

            if (_subscriptions.Count > 0 && (_options.CleanSession || !session.SessionPresent))
            {
                var filters = _subscriptions.Select(s => new MqttTopicFilter(s.Key, s.Value)).ToList();
                resubscribe = EnqueueAwaitingAckLocked(session, id => new SubscribePacket(id, filters));
            }

            session.LastSent = _time.GetTimestamp();
            _session = session;
            isReconnect = _everConnected;
            if (isReconnect)
            {
                _reconnects++;
            }

            _everConnected = true;
        }

        Signal();
        MqttClientLog.Connected(_logger, _options.Host, _options.Port, session.SessionPresent, isReconnect);
        var reader = ReadLoopAsync(session, cancellationToken);
        var writer = WriteLoopAsync(session, cancellationToken);
        var monitor = MonitorLoopAsync(session, cancellationToken);
        var setup = AfterConnectAsync(session, resubscribe, isReconnect, firstConnect, cancellationToken);

        var ended = await Task.WhenAny(reader, writer, monitor);
        var error = ended.Exception?.GetBaseException();
        lock (_lock)
        {
            _session = null;
            foreach (var waiting in _pendingAcks.Values)
            {
                waiting.TrySetResult(null); // the subscription stays recorded and is sent again on reconnect
            }

            _pendingAcks.Clear();
            _drained?.TrySetResult();

            // Nobody waits on a dead connection: a DISCONNECT that can no longer be written is done.
            foreach (var item in session.Control)
            {
                item.Written?.TrySetResult();
            }

            session.Control.Clear();
        }

        await session.Cancellation.CancelAsync();
        session.Close(reset: false);
        await Task.WhenAll(reader, writer, monitor, setup).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        var reason = error switch
        {
            null => "the connection was closed",
            EndOfStreamException => "the broker closed the connection",
            _ => error.Message,
        };
        if (!session.Closing && !stop.IsCancellationRequested)
        {
            RecordError(error ?? new IOException(reason));
            if (error is MqttException)
            {
                MqttClientLog.MalformedPacket(_logger, _options.Host, _options.Port, reason);
            }
            else
            {
                MqttClientLog.ConnectionLost(_logger, _options.Host, _options.Port, reason);
            }
        }

        return reason;
    }

    private async Task AfterConnectAsync(
        Session session, (ushort Id, Task<MqttPacket?> Reply)? resubscribe, bool isReconnect, TaskCompletionSource firstConnect, CancellationToken cancellationToken)
    {
        if (resubscribe is { } pending)
        {
            try
            {
                var reply = await WaitForAckAsync(pending.Id, pending.Reply, cancellationToken);
                if (reply is SubAckPacket ack && ack.ReturnCodes.Contains(MqttSubscribeReturnCode.Failure))
                {
                    MqttClientLog.ResubscribeFailed(_logger, "the broker refused at least one filter");
                }
            }
            catch (TimeoutException ex)
            {
                MqttClientLog.ResubscribeFailed(_logger, ex.Message);
            }
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return;
        }

        var args = new MqttConnectedEventArgs(session.SessionPresent, isReconnect);
        foreach (var handler in Connected?.GetInvocationList().Cast<Func<MqttConnectedEventArgs, Task>>() ?? [])
        {
            try
            {
                await handler(args);
            }
            catch (Exception ex)
            {
                MqttClientLog.HandlerFailed(_logger, nameof(Connected), ex);
            }
        }

        firstConnect.TrySetResult();
    }

    private async Task ReadLoopAsync(Session session, CancellationToken cancellationToken)
    {
        while (true)
        {
            var packet = await session.Channel.ReadAsync(cancellationToken);
            switch (packet)
            {
                case PublishPacket { Qos: MqttQos.ExactlyOnce }:
                    throw new MqttException("The broker sent a QoS 2 PUBLISH, though this client never subscribes above QoS 1.");
                case PublishPacket publish:
                    await DeliverAsync(new MqttApplicationMessage(publish.Topic, publish.Payload, publish.Qos, publish.Retain));
                    if (publish.Qos == MqttQos.AtLeastOnce)
                    {
                        lock (_lock)
                        {
                            session.Control.Enqueue(new Outgoing(new PubAckPacket(publish.PacketId)));
                        }

                        Signal();
                    }

                    break;
                case PubAckPacket ack:
                    lock (_lock)
                    {
                        // An unknown id is a duplicate ack for a message sent twice: nothing to do.
                        if (_inflight.Remove(ack.PacketId))
                        {
                            CheckDrainedLocked();
                        }
                    }

                    Signal(); // an in-flight slot may have opened
                    break;
                case SubAckPacket or UnsubAckPacket:
                    var id = packet is SubAckPacket subAck ? subAck.PacketId : ((UnsubAckPacket)packet).PacketId;
                    lock (_lock)
                    {
                        if (_pendingAcks.Remove(id, out var waiting))
                        {
                            waiting.TrySetResult(packet);
                        }
                    }

                    break;
                case PingRespPacket:
                    lock (_lock)
                    {
                        session.PingSentAt = null;
                    }

                    break;
                default:
                    throw new MqttException($"The broker sent {packet.Type}, which a server never sends to a client.");
            }
        }
    }

    private async Task WriteLoopAsync(Session session, CancellationToken cancellationToken)
    {
        while (true)
        {
            Outgoing? next;
            lock (_lock)
            {
                next = TakeNextLocked(session);
            }

            if (next is not { } item)
            {
                await _wake.Reader.ReadAsync(cancellationToken);
                continue;
            }

            await session.Channel.WriteAsync(item.Packet, cancellationToken);
            lock (_lock)
            {
                session.LastSent = _time.GetTimestamp();
            }

            item.Written?.TrySetResult();
        }
    }

    /// <summary>Control packets first, then the queue in order; QoS 1 messages enter the in-flight map here.</summary>
    private Outgoing? TakeNextLocked(Session session)
    {
        var now = _time.GetTimestamp();
        while (session.Control.TryDequeue(out var item))
        {
            if (item.Retransmit is { } entry)
            {
                // Acknowledged meanwhile: resending would reuse a packet id that may already belong to another message.
                if (!_inflight.TryGetValue(entry.Packet.PacketId, out var current) || !ReferenceEquals(current, entry))
                {
                    continue;
                }

                entry.SentAt = now;
            }

            return item;
        }

        if (!_outbox.TryPeek(out var message))
        {
            return null;
        }

        if (message.Qos == MqttQos.AtMostOnce)
        {
            _outbox.Dequeue();
            CheckDrainedLocked();
            return new Outgoing(new PublishPacket(message.Topic, message.Payload) { Retain = message.Retain });
        }

        if (_inflight.Count >= _options.MaxInflight)
        {
            return null; // a PUBACK will free a slot and signal
        }

        _outbox.Dequeue();
        var packet = new PublishPacket(message.Topic, message.Payload)
        {
            Qos = MqttQos.AtLeastOnce,
            Retain = message.Retain,
            PacketId = NextPacketIdLocked(),
        };
        _inflight[packet.PacketId] = new Inflight(packet, ++_sequence) { SentAt = now };
        return new Outgoing(packet);
    }

    /// <summary>Keep-alive (spec 3.1.2.10) and QoS 1 retransmission on a coarse tick.</summary>
    private async Task MonitorLoopAsync(Session session, CancellationToken cancellationToken)
    {
        var keepAlive = _options.KeepAlive;
        var shortest = keepAlive > TimeSpan.Zero ? Math.Min(keepAlive.Ticks, _options.AckTimeout.Ticks) : _options.AckTimeout.Ticks;
        var tick = TimeSpan.FromTicks(Math.Clamp(shortest / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
        while (true)
        {
            await Task.Delay(tick, _time, cancellationToken);
            var now = _time.GetTimestamp();
            var wake = false;
            lock (_lock)
            {
                if (keepAlive > TimeSpan.Zero)
                {
                    if (session.PingSentAt is { } pingSent)
                    {
                        if (_time.GetElapsedTime(pingSent, now) >= keepAlive)
                        {
                            throw new TimeoutException($"No PINGRESP within the keep-alive of {keepAlive.TotalSeconds} s.");
                        }
                    }
                    else if (_time.GetElapsedTime(session.LastSent, now) >= keepAlive)
                    {
                        session.Control.Enqueue(new Outgoing(PingReqPacket.Instance));
                        session.PingSentAt = now;
                        wake = true;
                    }
                }

                foreach (var entry in _inflight.Values)
                {
                    if (_time.GetElapsedTime(entry.SentAt, now) >= _options.AckTimeout)
                    {
                        entry.SentAt = now;
                        session.Control.Enqueue(new Outgoing(entry.Packet with { Dup = true }, entry));
                        wake = true;
                    }
                }
            }

            if (wake)
            {
                Signal();
            }
        }
    }

    private async Task DeliverAsync(MqttApplicationMessage message)
    {
        foreach (var handler in MessageReceived?.GetInvocationList().Cast<Func<MqttApplicationMessage, Task>>() ?? [])
        {
            try
            {
                await handler(message);
            }
            catch (Exception ex)
            {
                MqttClientLog.HandlerFailed(_logger, nameof(MessageReceived), ex);
            }
        }
    }

    private async Task<MqttPacket?> WaitForAckAsync(ushort id, Task<MqttPacket?> reply, CancellationToken cancellationToken)
    {
        try
        {
            return await reply.WaitAsync(_options.AckTimeout, _time, cancellationToken);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            lock (_lock)
            {
                _pendingAcks.Remove(id);
            }

            throw;
        }
    }

    private (ushort Id, Task<MqttPacket?> Reply) EnqueueAwaitingAckLocked(Session session, Func<ushort, MqttPacket> build)
    {
        var id = NextPacketIdLocked();
        var reply = new TaskCompletionSource<MqttPacket?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pendingAcks[id] = reply;
        session.Control.Enqueue(new Outgoing(build(id)));
        return (id, reply.Task);
    }

    /// <summary>Cycles through 1..65535, skipping ids still in use (MQTT-2.3.1-2).</summary>
    private ushort NextPacketIdLocked()
    {
        for (var i = 0; i < ushort.MaxValue; i++)
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
            if (!_inflight.ContainsKey(_lastPacketId) && !_pendingAcks.ContainsKey(_lastPacketId))
            {
                return _lastPacketId;
            }
        }

        throw new InvalidOperationException("All 65,535 packet identifiers are in use.");
    }

    private void CheckDrainedLocked()
    {
        if (_outbox.Count == 0 && _inflight.Count == 0)
        {
            _drained?.TrySetResult();
        }
    }

    private void Signal() => _wake.Writer.TryWrite(true);

    private double NextRandom()
    {
        lock (_lock)
        {
            return _random.NextDouble();
        }
    }

    private void RecordError(Exception error)
    {
        lock (_lock)
        {
            _lastError = $"{error.GetType().Name}: {error.Message}";
        }
    }

    private static int CheckedByteCount(string value, bool valid, string what)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!valid)
        {
            throw new ArgumentException($"'{value}' is not a valid {what}.", nameof(value));
        }

        try
        {
            var count = new UTF8Encoding(false, throwOnInvalidBytes: true).GetByteCount(value);
            return count <= ushort.MaxValue ? count : throw new ArgumentException($"The {what} is longer than 65,535 UTF-8 bytes.", nameof(value));
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException($"The {what} is not valid UTF-16 text.", nameof(value), ex);
        }
    }

    private static void CheckQos(MqttQos qos)
    {
        if (qos is not (MqttQos.AtMostOnce or MqttQos.AtLeastOnce))
        {
            throw new ArgumentOutOfRangeException(nameof(qos), qos, "This client supports QoS 0 and 1.");
        }
    }

    private readonly record struct Outgoing(MqttPacket Packet, Inflight? Retransmit = null, TaskCompletionSource? Written = null);

    /// <summary>A QoS 1 PUBLISH waiting for its PUBACK.</summary>
    private sealed class Inflight(PublishPacket packet, long sequence)
    {
        public PublishPacket Packet { get; } = packet;
        public long Sequence { get; } = sequence;
        public long SentAt { get; set; }
    }

    /// <summary>One TCP/TLS connection after a successful CONNACK; mutable fields are guarded by the client's lock.</summary>
    private sealed class Session(Socket socket, Stream stream, MqttChannel channel, bool sessionPresent, long connectedAt) : IAsyncDisposable
    {
        public MqttChannel Channel { get; } = channel;
        public bool SessionPresent { get; } = sessionPresent;
        public long ConnectedAt { get; } = connectedAt;
        public CancellationTokenSource Cancellation { get; } = new();
        public Queue<Outgoing> Control { get; } = new();
        public long LastSent { get; set; }
        public long? PingSentAt { get; set; }
        public bool Closing { get; set; }

        /// <summary>Closes the socket, which ends pending reads and writes; <paramref name="reset"/> sends RST instead of FIN.</summary>
        public void Close(bool reset)
        {
            if (reset)
            {
                try
                {
                    socket.LingerState = new LingerOption(true, 0);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    // Already closed.
                }
            }

            socket.Dispose();
        }

        public async ValueTask DisposeAsync()
        {
            Cancellation.Cancel();
            try
            {
                await stream.DisposeAsync();
            }
            catch (IOException)
            {
                // The peer is gone; nothing left to flush.
            }

            socket.Dispose();
            Cancellation.Dispose();
        }
    }
}
