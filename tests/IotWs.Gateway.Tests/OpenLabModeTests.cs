using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests;

public sealed class OpenLabModeTests
{
    [Fact]
    public async Task Without_required_auth_every_client_is_a_viewer_and_devices_still_authenticate()
    {
        await using var gateway = await TestGateway.StartAsync(null, "AuthRequired=false");
        await using var viewer = await gateway.ConnectAsync();
        var welcome = await viewer.ReceiveAsync("welcome");
        Assert.False(welcome.GetProperty("authRequired").GetBoolean());
        await viewer.SendAsync(new { type = "subscribe", topic = "sensor_updates" });
        Assert.True((await viewer.ReceiveAsync("subscribe_response")).GetProperty("success").GetBoolean());
        await viewer.SendAsync(new { type = "publish", topic = "system_alerts", data = new { x = 1 } });
        Assert.Equal("forbidden", (await viewer.ReceiveAsync("error")).GetProperty("code").GetString());

        var token = gateway.AddDevice("esp-lab");
        await using var device = await gateway.ConnectDeviceAsync("esp-lab", token);
        await device.SendAsync(new { type = "heartbeat" });
        await device.ReceiveAsync("heartbeat_response");
    }
}
