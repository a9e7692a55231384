using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>A bare MQTTnet client that speaks the cluster's heartbeat: a node the test controls completely.</summary>
internal sealed class GhostNode : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly string _nodeId;
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;

    private GhostNode(IMqttClient client, string nodeId)
    {
        _client = client;
        _nodeId = nodeId;
    }

    public static async Task<GhostNode> ConnectAsync(int port, string nodeId, bool withWill = false)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("ghost-" + nodeId + "-" + Guid.NewGuid().ToString("N")[..6]);
        if (withWill)
        {
            options.WithWillTopic("iotws-cluster/nodes/" + nodeId).WithWillPayload(Array.Empty<byte>()).WithWillRetain().WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        }
        await client.ConnectAsync(options.Build());
        return new GhostNode(client, nodeId);
    }

    public Task HeartbeatAsync(int devices = 0) =>
        PublishAsync("nodes/" + _nodeId, JsonSerializer.SerializeToUtf8Bytes(new { nodeId = _nodeId, startedAt = _startedAt, at = DateTimeOffset.UtcNow, devices }), retain: true);

    public async Task PublishAsync(string subtopic, byte[] payload, bool retain = false) =>
        await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("iotws-cluster/" + subtopic).WithPayload(payload)
            .WithRetainFlag(retain).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

    /// <summary>Drops the TCP connection without DISCONNECT, as a SIGKILL would: the broker then publishes the will.</summary>
    public void CutConnection() => _client.Dispose();

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_client.IsConnected) await _client.DisconnectAsync();
        }
        catch (ObjectDisposedException)
        {
        }
        _client.Dispose();
    }
}
