namespace IotWs.Mqtt;

/// <summary>Topic layout of the Home Assistant publisher (see docs/home-assistant.md).</summary>
public sealed record HomeAssistantOptions
{
    /// <summary>Root of state and availability topics: <c>{TopicPrefix}/{deviceId}/state</c>.</summary>
    public string TopicPrefix { get; init; } = "iotws";

    /// <summary>Home Assistant's discovery prefix (its default is <c>homeassistant</c>).</summary>
    public string DiscoveryPrefix { get; init; } = "homeassistant";

    /// <summary>Names the gateway's own device in Home Assistant (the <c>via_device</c> of every board).</summary>
    public string GatewayId { get; init; } = "gateway";

    /// <summary>The gateway's version, shown as its <c>sw_version</c>.</summary>
    public string? GatewayVersion { get; init; }

    /// <summary>Technician commands are on: each device gets a Reboot button (otherwise its discovery is removed).</summary>
    public bool CommandsEnabled { get; init; }
}
