using System.Net;
using IotWs.Gateway.Tests.Cli;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Mqtt;

/// <summary>
/// The bridge pointing at the gateway's own embedded broker is refused even when the host is a name that only DNS
/// (here /etc/hosts) makes this machine; a name that does not resolve is left to the bridge.
/// </summary>
public sealed class OwnBrokerCheckTests
{
    /// <summary>A name in /etc/hosts for a loopback address that is neither "localhost" nor the machine name, if any.</summary>
    internal static string? LoopbackAlias()
    {
        if (!File.Exists("/etc/hosts")) return null;
        foreach (var line in File.ReadLines("/etc/hosts"))
        {
            var fields = line.Split('#')[0].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2 || !IPAddress.TryParse(fields[0], out var address) || !IPAddress.IsLoopback(address)) continue;
            foreach (var name in fields.Skip(1))
            {
                if (string.Equals(name, "localhost", StringComparison.OrdinalIgnoreCase) || string.Equals(name, Environment.MachineName, StringComparison.OrdinalIgnoreCase)) continue;
                // Only a name that really resolves to loopback here (nsswitch may not read /etc/hosts first).
                try
                {
                    if (Dns.GetHostAddresses(name).Any(IPAddress.IsLoopback)) return name;
                }
                catch (System.Net.Sockets.SocketException)
                {
                }
            }
        }
        return null;
    }

    /// <summary>Skipped, saying why, on a machine whose /etc/hosts has no such alias.</summary>
    public sealed class LoopbackAliasFactAttribute : FactAttribute
    {
        public LoopbackAliasFactAttribute()
        {
            if (LoopbackAlias() is null) Skip = "no name other than localhost and the machine name resolves to loopback through /etc/hosts here";
        }
    }

    [LoopbackAliasFact]
    public async Task A_host_name_that_resolves_to_loopback_is_the_gateways_own_broker_and_is_refused_at_start()
    {
        var alias = LoopbackAlias()!;
        var dir = TestGateway.NewDataDir();
        try
        {
            var port = MosquittoBroker.FreeLoopbackPort();
            var result = await GatewayCommand.RunAsync("--urls", "http://127.0.0.1:0", "--data-dir", dir,
                "--Gateway:Mqtt:Enabled=true", $"--Gateway:Mqtt:Host={alias}", $"--Gateway:Mqtt:Port={port}",
                "--Gateway:Mqtt:Broker:Enabled=true", $"--Gateway:Mqtt:Broker:Port={port}");

            Assert.True(result.ExitCode == 1, result.ToString());
            var line = Assert.Single(result.ErrLines);
            Assert.StartsWith($"Configuration error: Gateway:Mqtt:Host {alias}:{port} is the gateway's own embedded broker", line, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_host_name_that_does_not_resolve_is_not_refused_by_this_check_and_the_gateway_starts()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        // .invalid never resolves (RFC 2606): the bridge keeps trying it in the background, the embedded broker runs.
        await using var gateway = await TestGateway.StartAsync(null, "Mqtt:Enabled=true", "Mqtt:Host=iotws-nowhere.invalid", $"Mqtt:Port={port}",
            "Mqtt:Broker:Enabled=true", $"Mqtt:Broker:Port={port}", "Mqtt:Broker:BindAddress=127.0.0.1");
        using var http = gateway.Http(gateway.AddKey("viewer"));
        var mqtt = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt");
        Assert.True(mqtt.GetProperty("embeddedBroker").GetProperty("running").GetBoolean());
        Assert.Equal($"iotws-nowhere.invalid:{port}", mqtt.GetProperty("broker").GetString());
    }
}
