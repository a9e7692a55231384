using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Devices;
using IotWs.Gateway.PubSub;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Rpc;
using IotWs.Gateway.Status;
using IotWs.Protocol;

namespace IotWs.Gateway.Observability;

/// <summary>
/// Observable instruments on <see cref="GatewayMeter"/> that read, at each scrape, the counters the gateway already
/// keeps for /api/status (readings writer, connections, fan-out, presence, MQTT bridge), and the RPC outcome counter.
/// </summary>
internal sealed class GatewayInstruments(
    GatewayMeter meter,
    ReadingWriter writer,
    ConnectionRegistry registry,
    GatewayMetrics messages,
    FanOutStats fanOut,
    PresenceTracker presence,
    DeviceCalls calls,
    IEnumerable<IStatusContributor> contributors) : IHostedService
{
    private readonly IStatusContributor? _mqtt = contributors.FirstOrDefault(c => c.Section == "mqtt");

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var m = meter.Meter;
        m.CreateObservableCounter("iotws.readings.stored", () => writer.Stats.Stored, "{reading}", "Readings committed to the database.");
        m.CreateObservableUpDownCounter("iotws.readings.queue.depth", () => writer.Stats.Queued, "{reading}", "Readings waiting for the writer (queued or being committed).");
        m.CreateObservableCounter("iotws.messages.received", messages.Received, "{message}", "WebSocket messages received.");
        m.CreateObservableCounter("iotws.messages.sent", messages.Sent, "{message}", "WebSocket messages sent.");
        m.CreateObservableUpDownCounter("iotws.connections", Connections, "{connection}", "Open WebSocket connections by client type.");
        m.CreateObservableCounter("iotws.fanout.dropped", DroppedMessages, "{message}", "Messages dropped from full outboxes of slow subscribers.");
        m.CreateObservableCounter("iotws.fanout.slow_consumers.closed", () => fanOut.SlowConsumersClosed, "{connection}", "Connections closed with 1008 for not reading their messages.");
        m.CreateObservableUpDownCounter("iotws.devices.presence", Presence, "{device}", "Devices the gateway has heard from since it started, by presence state.");
        m.CreateObservableUpDownCounter("iotws.mqtt.queue.depth", () => MqttFigure("queued"), "{message}", "MQTT messages waiting for the broker (only while the bridge is enabled).");
        m.CreateObservableUpDownCounter("iotws.mqtt.connected", () => MqttFigure("connected"), "{broker}", "1 while the MQTT bridge is connected to its broker (only while the bridge is enabled).");
        calls.CallChanged += OnCallChanged;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        calls.CallChanged -= OnCallChanged;
        return Task.CompletedTask;
    }

    private void OnCallChanged(RpcCall call)
    {
        // "rebooting" waits for the device to come back; its outcome is the confirmed/unconfirmed that follows.
        if (call.IsSettled && call.Status != RpcStatuses.Rebooting)
            meter.RpcCallsFinished.Add(1, new KeyValuePair<string, object?>("status", call.Status));
    }

    private IEnumerable<Measurement<int>> Connections()
    {
        var byType = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            [ClientTypes.Microcontroller] = 0,
            [ClientTypes.Application] = 0,
            [ClientTypes.Service] = 0,
        };
        foreach (var session in registry.All) byType[session.ClientType] = byType.GetValueOrDefault(session.ClientType) + 1;
        return byType.Select(t => new Measurement<int>(t.Value, new KeyValuePair<string, object?>("client_type", t.Key)));
    }

    private long DroppedMessages()
    {
        var dropped = fanOut.DroppedByClosedConnections;
        foreach (var session in registry.All) dropped += session.Outbox.Dropped;
        return dropped;
    }

    private IEnumerable<Measurement<int>> Presence() =>
        presence.CountByStatus().Select(s => new Measurement<int>(s.Value, new KeyValuePair<string, object?>("state", s.Key))).ToArray();

    /// <summary>A figure of the bridge's "mqtt" status section; nothing while the bridge is disabled.</summary>
    private IEnumerable<Measurement<long>> MqttFigure(string name)
    {
        if (_mqtt?.Snapshot() is not JsonObject status || status["enabled"]?.GetValue<bool>() != true) return [];
        return status[name] switch
        {
            JsonValue v when v.TryGetValue(out bool b) => [new Measurement<long>(b ? 1 : 0)],
            JsonValue v when v.TryGetValue(out long n) => [new Measurement<long>(n)],
            JsonValue v when v.TryGetValue(out int n) => [new Measurement<long>(n)],
            _ => [],
        };
    }
}
