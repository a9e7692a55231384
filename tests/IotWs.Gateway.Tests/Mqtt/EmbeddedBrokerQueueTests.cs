using System.Text.Json;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Mqtt;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Mqtt.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MQTTnet;

namespace IotWs.Gateway.Tests.Mqtt;

/// <summary>The queue between the gateway and its embedded broker drops the oldest when full, and counts what it drops.</summary>
public sealed class EmbeddedBrokerQueueTests
{
    [MosquittoFact(needsClients: true)]
    public async Task A_full_queue_into_the_embedded_broker_drops_the_oldest_counts_them_and_delivers_the_rest()
    {
        // A real gateway for its identity cache and its /api/status; a second broker beside it that is not started
        // yet, so nothing drains its queue: the state a stalled broker leaves the queue in.
        var statusPort = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, "Mqtt:Broker:Enabled=true", $"Mqtt:Broker:Port={statusPort}", "Mqtt:Broker:BindAddress=127.0.0.1");
        var port = MosquittoBroker.FreeLoopbackPort();
        var options = new MqttBridgeOptions { QueueCapacity = 100, Broker = new MqttBrokerOptions { Enabled = true, Port = port, BindAddress = "127.0.0.1" } };
        var broker = new EmbeddedBroker(Options.Create(options), gateway.Service<IdentityCache>(), NullLogger<EmbeddedBroker>.Instance);
        try
        {
            for (var n = 0; n < 150; n++)
            {
                broker.Publish(new MqttApplicationMessageBuilder().WithTopic($"drop/{n:D3}").WithPayload($"{n}").WithRetainFlag().Build());
            }

            Assert.Equal(50, broker.DroppedMessages);
            var snapshot = JsonSerializer.SerializeToElement(broker.Snapshot());
            Assert.Equal(100, snapshot.GetProperty("queued").GetInt32());
            Assert.Equal(100, snapshot.GetProperty("queueCapacity").GetInt32());
            Assert.Equal(50, snapshot.GetProperty("dropped").GetInt64());

            // Started, it takes the 100 newest; the 50 oldest are gone.
            await broker.StartAsync();
            var viewer = gateway.AddKey("viewer");
            await Eventually.UntilAsync(() => JsonSerializer.SerializeToElement(broker.Snapshot()).GetProperty("queued").GetInt32() == 0, "the queue drained");
            var seen = await MosquittoClients.SubscribeAsync(port, viewer, 3, "mqttv311", "drop/#");
            var topics = seen.OutLines.Select(l => l.Split(' ')[1]).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(Enumerable.Range(50, 100).Select(n => $"drop/{n:D3}"), topics);
        }
        finally
        {
            await broker.DisposeAsync();
        }

        // The gateway's own broker shows the same counters in /api/status, beside the bridge's.
        using var http = gateway.Http(gateway.AddKey("viewer"));
        var status = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt").GetProperty("embeddedBroker");
        Assert.Equal(0, status.GetProperty("dropped").GetInt64());
        Assert.Equal(50_000, status.GetProperty("queueCapacity").GetInt32());
        Assert.True(status.TryGetProperty("queued", out _), status.ToString());
    }
}
