namespace IotWs.Mqtt;

/// <summary>Topic layout of the Home Assistant bridge (see the product contract, "MQTT bridge").</summary>
public sealed record HomeAssistantOptions
{
    /// <summary>Root of state and availability topics: <c>{TopicPrefix}/{deviceId}/state</c>.</summary>
    public string TopicPrefix { get; init; } = "iotws";

    /// <summary>Home Assistant's discovery prefix (its default is <c>homeassistant</c>).</summary>
    public string DiscoveryPrefix { get; init; } = "homeassistant";

    /// <summary>Names the gateway's own connectivity entity in Home Assistant.</summary>
    public string GatewayId { get; init; } = "gateway";

    /// <summary>QoS of every publish; retained state is worth an acknowledgement.</summary>
    public MqttQos Qos { get; init; } = MqttQos.AtLeastOnce;
}
