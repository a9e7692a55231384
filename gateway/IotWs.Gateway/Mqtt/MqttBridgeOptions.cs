using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Mqtt;

/// <summary>Section Gateway:Mqtt — Home Assistant over MQTT: a bridge to a broker, an embedded broker, or both (off unless enabled).</summary>
public sealed class MqttBridgeOptions
{
    public const string Section = "Gateway:Mqtt";

    /// <summary>The bridge to an existing broker (Host:Port).</summary>
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
    /// <summary>A PEM file with the broker's CA (or its self-signed certificate), trusted besides the system's roots.</summary>
    public string? CaCertificate { get; set; }
    /// <summary>Auto (MQTT 5, falling back to 3.1.1), "5" or "3.1.1".</summary>
    public string ProtocolVersion { get; set; } = "Auto";
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan ReconnectMin { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan ReconnectMax { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>
    /// Messages held while the broker is away, then the oldest go. One state message per reading and one diagnostics
    /// message per heartbeat (plus 8 when a board connects): 20 boards reading every 10 s with 30 s heartbeats send
    /// 160 a minute, so the default covers about 5 hours.
    /// </summary>
    [Range(100, 10_000_000)] public int QueueCapacity { get; set; } = 50_000;

    public MqttCommandOptions Commands { get; set; } = new();
    [ValidateObjectMembers] public MqttBrokerOptions Broker { get; set; } = new();
}

/// <summary>Gateway:Mqtt:Commands — technician commands on {prefix}/{deviceId}/command/{endpoint} (off by default).</summary>
public sealed class MqttCommandOptions
{
    public bool Enabled { get; set; }
    /// <summary>The name of the API key (keys add NAME --role technician) commands run as: its role applies and it is the audit log's caller.</summary>
    public string? ApiKeyName { get; set; }
}

/// <summary>Gateway:Mqtt:Broker — an MQTT broker inside the gateway, for a Pi without Mosquitto.</summary>
public sealed class MqttBrokerOptions
{
    public bool Enabled { get; set; }
    [Range(1, 65535)] public int Port { get; set; } = 1883;
    /// <summary>The address it listens on (0.0.0.0: every interface).</summary>
    public string BindAddress { get; set; } = "0.0.0.0";
}

/// <summary>Start-time checks that DataAnnotations cannot express; each failure is one line.</summary>
internal sealed class MqttBridgeOptionsValidator : IValidateOptions<MqttBridgeOptions>
{
    public ValidateOptionsResult Validate(string? name, MqttBridgeOptions o)
    {
        var errors = new List<string>();
        if (o.ProtocolVersion is not ("Auto" or "5" or "3.1.1"))
            errors.Add($"Gateway:Mqtt:ProtocolVersion must be Auto, 5 or 3.1.1 (got '{o.ProtocolVersion}').");
        if (o.Commands.Enabled && string.IsNullOrWhiteSpace(o.Commands.ApiKeyName))
            errors.Add("Gateway:Mqtt:Commands:Enabled needs Gateway:Mqtt:Commands:ApiKeyName, the API key commands run as.");
        if (o.Broker.Enabled && !IPAddress.TryParse(o.Broker.BindAddress, out _))
            errors.Add($"Gateway:Mqtt:Broker:BindAddress must be an IP address (got '{o.Broker.BindAddress}').");
        if (o.Enabled && o.Broker.Enabled && o.Port == o.Broker.Port && IsThisMachine(o.Host))
            errors.Add($"Gateway:Mqtt:Host {o.Host}:{o.Port} is the gateway's own embedded broker (Gateway:Mqtt:Broker): the gateway already publishes to it directly; turn off Gateway:Mqtt:Enabled or point it at another broker.");
        if (!string.IsNullOrEmpty(o.CaCertificate) && !File.Exists(o.CaCertificate))
            errors.Add($"Gateway:Mqtt:CaCertificate {o.CaCertificate} does not exist.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>How long the start waits for the broker's host name to resolve, for this check only.</summary>
    internal static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(2);

    private static bool IsThisMachine(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || string.Equals(host, Environment.MachineName, StringComparison.OrdinalIgnoreCase)) return true;
        if (IPAddress.TryParse(host, out var address)) return IsLocal(address);
        // Any other name (an /etc/hosts alias, the Pi's mDNS name) may still be this machine. A name that does not
        // resolve now, or not within the timeout, is not an error here: the bridge reports it when it connects.
        try
        {
            var lookup = Dns.GetHostAddressesAsync(host);
            return lookup.Wait(ResolveTimeout) && lookup.Result.Any(IsLocal);
        }
        catch (AggregateException e) when (e.InnerException is System.Net.Sockets.SocketException or ArgumentException)
        {
            return false;
        }
    }

    private static bool IsLocal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)) return true;
        return System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Any(u => u.Address.Equals(address));
    }
}

/// <summary>The [Range] and [Required] checks of Gateway:Mqtt and its nested sections, compiled (no reflection).</summary>
[OptionsValidator]
internal sealed partial class MqttBridgeOptionsAnnotations : IValidateOptions<MqttBridgeOptions>;
