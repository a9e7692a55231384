using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace IotWs.Mqtt.Tests.Infrastructure;

/// <summary>Keeps log lines for assertions and echoes them to the test output.</summary>
internal sealed class TestLogger<T>(ITestOutputHelper? output = null) : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var message = formatter(state, exception);
        Entries.Enqueue((logLevel, message));
        try
        {
            output?.WriteLine($"{typeof(T).Name} {logLevel}: {message}");
        }
        catch (InvalidOperationException)
        {
            // The test already finished; background loops may still log.
        }
    }
}

/// <summary>Bounded polling: every wait in these tests ends by itself.</summary>
internal static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(20);
        }
    }
}

/// <summary>One message as a subscriber received it.</summary>
internal sealed record Received(string Topic, byte[] Payload, bool Retain, MqttQualityOfServiceLevel Qos)
{
    public string Text => Encoding.UTF8.GetString(Payload);
}

/// <summary>An independent MQTTnet client subscribed to some filters, collecting what it receives.</summary>
internal sealed class Inbox : IAsyncDisposable
{
    private readonly ConcurrentQueue<Received> _messages = new();
    private readonly IMqttClient _client;

    private Inbox(IMqttClient client)
    {
        _client = client;
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            _messages.Enqueue(new Received(m.Topic, m.Payload.ToArray(), m.Retain, m.QualityOfServiceLevel));
            return Task.CompletedTask;
        };
    }

    public IReadOnlyList<Received> Messages => [.. _messages];

    public bool IsConnected => _client.IsConnected;

    public static async Task<Inbox> SubscribeAsync(int port, params string[] filters) =>
        await SubscribeAsync(port, null, null, MqttProtocolVersion.V500, filters);

    public static async Task<Inbox> SubscribeAsync(int port, string? username, string? password, MqttProtocolVersion version, params string[] filters)
    {
        var inbox = new Inbox(new MqttClientFactory().CreateMqttClient());
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId($"sub-{Guid.NewGuid():N}").WithProtocolVersion(version);
        if (username is not null) options.WithCredentials(username, password);
        using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
        var connected = await inbox._client.ConnectAsync(options.Build(), timeout.Token);
        Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
        if (filters.Length > 0)
        {
            var subscribe = new MqttClientSubscribeOptionsBuilder();
            foreach (var filter in filters) subscribe.WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
            await inbox._client.SubscribeAsync(subscribe.Build(), timeout.Token);
        }

        return inbox;
    }

    public async Task PublishAsync(string topic, string payload, bool retain = false) =>
        await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithRetainFlag(retain)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

    public async Task<Received> WaitForAsync(string topic, string? payload = null, TimeSpan? timeout = null)
    {
        bool Matches(Received m) => m.Topic == topic && (payload is null || m.Text == payload);
        await Eventually.UntilAsync(
            () => _messages.Any(Matches),
            $"'{topic}' {payload} arrives (got: {string.Join(", ", _messages.Select(m => m.Topic + "=" + (m.Text.Length > 20 ? m.Text[..20] : m.Text)))})",
            timeout);
        return _messages.Last(Matches);
    }

    /// <summary>The newest message on a topic, or null.</summary>
    public Received? Last(string topic) => _messages.LastOrDefault(m => m.Topic == topic);

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try
            {
                await _client.DisconnectAsync();
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException)
            {
                // The broker is already gone.
            }
        }

        _client.Dispose();
    }
}

internal static class TestLinks
{
    /// <summary>Short backoff so reconnect tests finish in a second or two.</summary>
    public static MqttLinkOptions Options(int port, string clientId) => new()
    {
        Host = "127.0.0.1",
        Port = port,
        ClientId = clientId,
        ReconnectMin = TimeSpan.FromMilliseconds(50),
        ReconnectMax = TimeSpan.FromMilliseconds(500),
        ConnectTimeout = TimeSpan.FromSeconds(5),
    };
}
