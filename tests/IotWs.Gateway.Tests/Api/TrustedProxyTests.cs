using System.Net.WebSockets;
using IotWs.Gateway.Cli;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Api;

/// <summary>Gateway:TrustedProxies: behind haproxy the logs name the client, and nobody else can claim an address.</summary>
public sealed class TrustedProxyTests
{
    private static async Task<string> ConnectedFromAsync(string forwardedFor, params string[] settings)
    {
        var logs = new CapturedLogs();
        await using var gateway = await TestGateway.StartAsync(null, logs.AddTo, settings);
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("X-Forwarded-For", forwardedFor);
        await socket.ConnectAsync(gateway.WsUri, CancellationToken.None);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (logs.Entries.FirstOrDefault(e => e.Message.Contains(" connected from ", StringComparison.Ordinal)) is { } entry) return entry.Message;
            await Task.Delay(20);
        }
        throw new TimeoutException("no 'connected from' line was logged");
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_the_log_names_the_client_address_it_forwarded()
    {
        var line = await ConnectedFromAsync("203.0.113.7", "TrustedProxies:0=127.0.0.1");
        Assert.EndsWith("connected from 203.0.113.7", line);
    }

    [Fact]
    public async Task A_proxy_on_a_trusted_network_is_believed_too()
    {
        var line = await ConnectedFromAsync("198.51.100.20", "TrustedProxies:0=127.0.0.0/8");
        Assert.EndsWith("connected from 198.51.100.20", line);
    }

    [Fact]
    public async Task Without_trusted_proxies_a_client_cannot_claim_another_address()
    {
        // The framework's own default would believe loopback: the gateway believes nobody unless told.
        var line = await ConnectedFromAsync("203.0.113.7");
        Assert.EndsWith("connected from 127.0.0.1", line);
        line = await ConnectedFromAsync("203.0.113.7", "TrustedProxies:0=10.9.9.9");
        Assert.EndsWith("connected from 127.0.0.1", line);
    }

    [Fact]
    public void A_trusted_proxy_that_is_not_an_address_stops_the_start_with_one_line()
    {
        var dir = TestGateway.NewDataDir();
        try
        {
            var error = new StringWriter();
            var exit = GatewayCli.Run(["serve", "--urls", "http://127.0.0.1:0", "--data-dir", dir, "--Gateway:TrustedProxies:0=haproxy.lan"], TextWriter.Null, error);
            Assert.Equal(1, exit);
            Assert.Equal("Configuration error: Gateway:TrustedProxies: 'haproxy.lan' is neither an IP address nor a network in CIDR form (e.g. 10.0.0.0/24).", error.ToString().Trim());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
