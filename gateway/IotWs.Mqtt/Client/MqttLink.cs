using System.Buffers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IotWs.Mqtt;

/// <summary>Somewhere messages can be handed to without waiting: a link to a broker, or a broker inside the gateway.</summary>
public interface IMqttOutlet
{
    void Publish(MqttApplicationMessage message);
}

/// <summary>
/// One MQTTnet client that stays connected: a bounded queue that rides out broker outages (drop oldest when
/// full), reconnects with jittered backoff, MQTT 5 with a fallback to 3.1.1, subscriptions renewed on every
/// connect. MQTTnet 5 has no managed client any more, so this small loop is ours; all wire work is MQTTnet's.
/// </summary>
public sealed class MqttLink : IMqttOutlet, IAsyncDisposable
{
    private readonly MqttLinkOptions _options;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly LinkedList<MqttApplicationMessage> _queue = new();
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _work = new(0);
    private readonly CancellationTokenSource _stop = new();
    private MqttProtocolVersion _version;
    private Task? _loop;
    private int _inFlight;
    private long _dropped;
    private long _published;
    private long _reconnects;
    private string? _lastError;
    private volatile bool _connected;

    public MqttLink(MqttLinkOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.QueueCapacity, 1);
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _version = options.ProtocolVersion ?? MqttProtocolVersion.V500;
        _client = new MqttClientFactory().CreateMqttClient();
        _client.DisconnectedAsync += OnDisconnectedAsync;
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
    }

    /// <summary>After every successful connect, before queued messages are sent (the place to republish retained state).</summary>
    public event Action? Connected;

    /// <summary>A message on one of <see cref="MqttLinkOptions.Subscriptions"/>.</summary>
    public event Func<string, ReadOnlyMemory<byte>, Task>? MessageReceived;

    public bool IsConnected => _connected;

    /// <summary>Messages waiting for the broker (queued plus in flight).</summary>
    public int QueueDepth
    {
        get
        {
            lock (_gate) return _queue.Count + _inFlight;
        }
    }

    public MqttLinkStatus Status
    {
        get
        {
            lock (_gate)
            {
                return new MqttLinkStatus(_connected, _connected ? VersionName(_version) : null, _queue.Count + _inFlight,
                    _dropped, _published, _reconnects, _lastError);
            }
        }
    }

    /// <summary>Starts connecting in the background; never throws for an absent broker.</summary>
    public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Queues a message; when the queue is full the oldest one goes.</summary>
    public void Publish(MqttApplicationMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        long dropped = 0;
        lock (_gate)
        {
            _queue.AddLast(message);
            if (_queue.Count + _inFlight > _options.QueueCapacity && _queue.Count > 1)
            {
                _queue.RemoveFirst();
                dropped = ++_dropped;
            }
        }
        if (dropped > 0 && (dropped == 1 || dropped % 1000 == 0)) MqttLinkLog.Dropped(_logger, _options.QueueCapacity, dropped);
        _work.Release();
    }

    /// <summary>
    /// A PINGREQ answered by the broker within <paramref name="timeout"/>: proof that this connection carries traffic
    /// now, which <see cref="IsConnected"/> cannot give (a silently broken connection stays "connected" until the
    /// keep-alive notices, up to 1.5 keep-alive periods later).
    /// </summary>
    public async Task<bool> PingAsync(TimeSpan timeout)
    {
        if (!_connected) return false;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        cts.CancelAfter(timeout);
        try
        {
            await _client.PingAsync(cts.Token);
            return true;
        }
        catch (Exception e) when (e is OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Sends what is queued (for up to <paramref name="timeout"/>), then a clean DISCONNECT, which suppresses the will.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (_connected && QueueDepth > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        if (QueueDepth > 0) MqttLinkLog.DisconnectUndrained(_logger, QueueDepth);
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
            }
        }
        if (_client.IsConnected)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), cts.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException)
            {
                MqttLinkLog.ConnectionLost(_logger, _options.Host, _options.Port, e.Message);
            }
        }
        _connected = false;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested) await StopAsync(TimeSpan.Zero);
        _client.Dispose();
        _stop.Dispose();
        _work.Dispose();
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var attempt = 0;
        var first = true;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await ConnectAsync(ct);
                attempt = 0;
                if (!first) Interlocked.Increment(ref _reconnects);
                first = false;
                lock (_gate) _lastError = null;
                _connected = true;
                MqttLinkLog.Connected(_logger, _options.Host, _options.Port, VersionName(_version));
                RaiseConnected();
                await SubscribeAsync(ct);
                await PumpAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _connected = false;
                var delay = ReconnectBackoff.Delay(attempt++, _options.ReconnectMin, _options.ReconnectMax, Random.Shared.NextDouble());
                var reason = Describe(e);
                lock (_gate) _lastError = reason;
                MqttLinkLog.ConnectFailed(_logger, _options.Host, _options.Port, reason, delay);
                try
                {
                    await Task.Delay(delay, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task ConnectAsync(CancellationToken ct)
    {
        try
        {
            await ConnectOnceAsync(_version, ct);
        }
        catch (BrokerRefusedException e)
            when (_options.ProtocolVersion is null && _version == MqttProtocolVersion.V500 && e.Code == MqttClientConnectResultCode.UnsupportedProtocolVersion)
        {
            // A 3.1.1-only broker: stay on 3.1.1 for this link's life (a broker that learns 5 is a new deployment).
            MqttLinkLog.FallingBack(_logger, _options.Host, _options.Port);
            _version = MqttProtocolVersion.V311;
            await ConnectOnceAsync(_version, ct);
        }
    }

    private async Task ConnectOnceAsync(MqttProtocolVersion version, CancellationToken ct)
    {
        if (_client.IsConnected) return;
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Host, _options.Port)
            .WithClientId(_options.ClientId)
            .WithProtocolVersion(version)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(_options.ConnectTimeout)
            .WithCleanSession();
        if (_options.Username is { Length: > 0 } user) builder.WithCredentials(user, _options.Password ?? "");
        if (_options.UseTls)
        {
            builder.WithTlsOptions(tls => tls.UseTls().WithCertificateValidationHandler(args => IsTrusted(args.Certificate, args.SslPolicyErrors)));
        }
        if (_options.Will is { } will)
        {
            builder.WithWillTopic(will.Topic)
                .WithWillPayload(will.Payload.ToArray())
                .WithWillQualityOfServiceLevel(will.QualityOfServiceLevel)
                .WithWillRetain(will.Retain);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.ConnectTimeout);
        var result = await _client.ConnectAsync(builder.Build(), timeout.Token);
        if (result.ResultCode != MqttClientConnectResultCode.Success) throw new BrokerRefusedException(result.ResultCode, result.ReasonString);
    }

    private bool IsTrusted(X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None) return true;
        // Only an unknown issuer can be forgiven, and only by a certificate the configuration names.
        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null || _options.TrustedCertificates is not { Count: > 0 } trusted) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }

    private async Task SubscribeAsync(CancellationToken ct)
    {
        if (_options.Subscriptions.Count == 0) return;
        var builder = new MqttClientSubscribeOptionsBuilder();
        foreach (var filter in _options.Subscriptions)
        {
            builder.WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithNoLocal(_options.NoLocal && _version == MqttProtocolVersion.V500));
        }
        var result = await _client.SubscribeAsync(builder.Build(), ct);
        foreach (var item in result.Items)
        {
            if ((int)item.ResultCode > 2) MqttLinkLog.SubscribeRefused(_logger, item.TopicFilter.Topic, item.ResultCode.ToString());
        }
    }

    /// <summary>Sends the queue while connected, up to MaxInFlight at a time, oldest first; returns (by throwing) when the connection is gone.</summary>
    private async Task PumpAsync(CancellationToken ct)
    {
        var batch = new List<MqttApplicationMessage>(_options.MaxInFlight);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            batch.Clear();
            lock (_gate)
            {
                while (batch.Count < _options.MaxInFlight && _queue.First is { } head)
                {
                    batch.Add(head.Value);
                    _queue.RemoveFirst();
                }
                _inFlight = batch.Count;
            }
            if (batch.Count == 0)
            {
                // Woken by Publish, or now and then to notice a lost connection.
                await _work.WaitAsync(TimeSpan.FromSeconds(1), ct);
                if (!_client.IsConnected) throw new MQTTnet.Exceptions.MqttCommunicationException("the connection closed");
                continue;
            }
            try
            {
                var results = await Task.WhenAll(batch.Select(m => _client.PublishAsync(m, ct)));
                lock (_gate)
                {
                    _inFlight = 0;
                    _published += batch.Count;
                }
                for (var i = 0; i < results.Length; i++)
                {
                    // An MQTT 5 broker may refuse one message (not authorized, …): it is not retried.
                    if (!results[i].IsSuccess) MqttLinkLog.PublishRefused(_logger, batch[i].Topic, results[i].ReasonCode.ToString());
                }
            }
            catch
            {
                // Not acknowledged: back to the front, in order, to be sent again after reconnecting (at least once).
                lock (_gate)
                {
                    for (var i = batch.Count - 1; i >= 0; i--) _queue.AddFirst(batch[i]);
                    _inFlight = 0;
                    while (_queue.Count > _options.QueueCapacity)
                    {
                        _queue.RemoveFirst();
                        _dropped++;
                    }
                }
                throw;
            }
        }
    }

    private void RaiseConnected()
    {
        try
        {
            Connected?.Invoke();
        }
        catch (Exception e)
        {
            MqttLinkLog.HandlerFailed(_logger, "Connected", e);
        }
    }

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs e)
    {
        if (_connected)
        {
            _connected = false;
            MqttLinkLog.ConnectionLost(_logger, _options.Host, _options.Port, e.Reason.ToString());
        }
        _work.Release();
        return Task.CompletedTask;
    }

    private async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        if (MessageReceived is not { } handler) return;
        try
        {
            await handler(e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray());
        }
        catch (Exception ex)
        {
            MqttLinkLog.HandlerFailed(_logger, "MessageReceived", ex);
        }
    }

    private static string Describe(Exception e) => e switch
    {
        BrokerRefusedException r => r.Message,
        OperationCanceledException => "connect timed out",
        _ => e.GetBaseException() is { } inner && inner != e ? $"{e.GetType().Name}: {inner.Message}" : $"{e.GetType().Name}: {e.Message}",
    };

    private static string VersionName(MqttProtocolVersion version) => version == MqttProtocolVersion.V500 ? "5.0" : "3.1.1";
}

/// <summary>The broker answered CONNECT with a reason code other than success.</summary>
internal sealed class BrokerRefusedException(MqttClientConnectResultCode code, string? reason)
    : Exception(string.IsNullOrEmpty(reason) ? $"refused: {code}" : $"refused: {code} ({reason})")
{
    public MqttClientConnectResultCode Code { get; } = code;
}
