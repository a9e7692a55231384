using System.Diagnostics;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests;

public sealed class LimitsTests
{
    [Fact]
    public async Task A_flood_gets_rate_limited_errors_and_then_close_4429()
    {
        await using var gateway = await TestGateway.StartAsync(null, "RateLimit:MessagesPerSecond=5", "RateLimit:Burst=10", "RateLimit:RejectionsBeforeClose=20");
        var key = gateway.AddKey("viewer");
        await using var client = await gateway.ConnectWithKeyAsync(key);
        for (var i = 0; i < 40; i++) await client.SendAsync(new { type = "heartbeat", timestamp = i });
        var error = await client.ReceiveAsync("error");
        Assert.Equal("rate_limited", error.GetProperty("code").GetString());
        Assert.Equal(4429, await client.WaitClosedAsync());
    }

    [Fact]
    public async Task Messages_within_the_rate_are_all_answered()
    {
        await using var gateway = await TestGateway.StartAsync(null, "RateLimit:MessagesPerSecond=5", "RateLimit:Burst=10");
        var key = gateway.AddKey("viewer");
        await using var client = await gateway.ConnectWithKeyAsync(key);
        for (var i = 0; i < 8; i++) await client.SendAsync(new { type = "heartbeat", timestamp = i });
        for (var i = 0; i < 8; i++) await client.ReceiveAsync("heartbeat_response");
        Assert.True(await client.NothingOfTypeAsync("error", TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Connections_over_the_limit_are_closed_with_1013_and_a_reason()
    {
        await using var gateway = await TestGateway.StartAsync(null, "MaxConnections=2");
        await using var a = await gateway.ConnectAsync();
        await using var b = await gateway.ConnectAsync();
        await a.ReceiveAsync("welcome");
        await b.ReceiveAsync("welcome");
        await using var c = await gateway.ConnectAsync();
        Assert.Equal(1013, await c.WaitClosedAsync());
        Assert.Contains("full", c.CloseDescription);
        await a.DisposeAsync();
        await Task.Delay(200);
        await using var d = await gateway.ConnectAsync();
        await d.ReceiveAsync("welcome");
    }

    [Fact]
    public async Task Shutdown_closes_every_connection_with_1013()
    {
        var gateway = await TestGateway.StartAsync();
        var key = gateway.AddKey("viewer");
        await using var client = await gateway.ConnectWithKeyAsync(key);
        var stopping = gateway.DisposeAsync();
        Assert.Equal(1013, await client.WaitClosedAsync());
        await stopping;
    }

    [Theory]
    [InlineData("--Gateway:HeartbeatInterval=-00:00:05", "HeartbeatInterval")]
    [InlineData("--Gateway:MaxPayloadSize=12", "MaxPayloadSize")]
    [InlineData("--Gateway:AuthTimeout=soon", "AuthTimeout")]
    // Nested sections are checked too (their [Range]s were not, before the options validation generator).
    [InlineData("--Gateway:Storage:CommitBatchSize=0", "CommitBatchSize")]
    [InlineData("--Gateway:RateLimit:Burst=0", "Burst")]
    [InlineData("--Gateway:Mqtt:Broker:Port=70000", "Port")]
    public async Task A_bad_setting_stops_the_gateway_with_one_clear_line(string setting, string named)
    {
        var dir = TestGateway.NewDataDir();
        var psi = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { RepoPaths.GatewayDll, "--urls", "http://127.0.0.1:0", "--data-dir", dir, setting },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        Assert.NotEqual(0, process.ExitCode);
        var err = (await stderr).Trim();
        Assert.StartsWith("Configuration error:", err);
        Assert.Contains(named, err);
        Assert.DoesNotContain("   at ", err);
        _ = await stdout;
    }
}
