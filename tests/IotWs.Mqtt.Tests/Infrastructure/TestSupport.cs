using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
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

/// <summary>Collects what a client receives.</summary>
internal sealed class Inbox
{
    private readonly ConcurrentQueue<MqttApplicationMessage> _messages = new();

    public IReadOnlyList<MqttApplicationMessage> Messages => [.. _messages];

    public static async Task<(MqttClient Client, Inbox Inbox)> SubscribeAsync(int port, params string[] filters)
    {
        var inbox = new Inbox();
        var client = new MqttClient(TestClients.Options(port, $"sub-{Guid.NewGuid():N}"));
        client.MessageReceived += inbox.OnMessageAsync;
        await client.ConnectAsync(new CancellationTokenSource(Eventually.DefaultTimeout).Token);
        foreach (var filter in filters)
        {
            await client.SubscribeAsync(filter, MqttQos.AtLeastOnce);
        }

        return (client, inbox);
    }

    public Task OnMessageAsync(MqttApplicationMessage message)
    {
        _messages.Enqueue(message);
        return Task.CompletedTask;
    }

    public async Task<MqttApplicationMessage> WaitForAsync(string topic, string? payload = null)
    {
        bool Matches(MqttApplicationMessage m) => m.Topic == topic && (payload is null || Encoding.UTF8.GetString(m.Payload.Span) == payload);
        await Eventually.UntilAsync(
            () => _messages.Any(Matches),
            $"'{topic}' {payload} arrives (got: {string.Join(", ", _messages.Select(m => m.Topic))})");
        return _messages.First(Matches);
    }
}

internal static class TestClients
{
    /// <summary>Short backoff so reconnect tests finish in a second or two.</summary>
    public static MqttClientOptions Options(int port, string clientId) => new()
    {
        Host = "127.0.0.1",
        Port = port,
        ClientId = clientId,
        ReconnectMin = TimeSpan.FromMilliseconds(50),
        ReconnectMax = TimeSpan.FromMilliseconds(500),
        AckTimeout = TimeSpan.FromSeconds(5),
        ConnectTimeout = TimeSpan.FromSeconds(5),
    };

    public static string Text(this MqttApplicationMessage message) => Encoding.UTF8.GetString(message.Payload.Span);
}
