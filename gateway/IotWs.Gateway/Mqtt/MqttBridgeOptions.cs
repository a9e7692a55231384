using System.ComponentModel.DataAnnotations;

namespace IotWs.Gateway.Mqtt;

/// <summary>Section Gateway:Mqtt — the bridge to an MQTT broker (off unless Enabled).</summary>
public sealed class MqttBridgeOptions
{
    public const string Section = "Gateway:Mqtt";

    public bool Enabled { get; set; }
    [Required] public string Host { get; set; } = "localhost";
    [Range(1, 65535)] public int Port { get; set; } = 1883;
    public string? Username { get; set; }
    public string? Password { get; set; }
    /// <summary>Empty: "iotws-" + the machine name, so two gateways never steal each other's session.</summary>
    public string? ClientId { get; set; }
    [Required] public string TopicPrefix { get; set; } = "iotws";
    [Required] public string DiscoveryPrefix { get; set; } = "homeassistant";
    public bool UseTls { get; set; }
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan ReconnectMin { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan ReconnectMax { get; set; } = TimeSpan.FromSeconds(60);
}
