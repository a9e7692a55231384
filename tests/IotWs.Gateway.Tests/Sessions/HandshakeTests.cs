using IotWs.Gateway.Connections;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Sessions;

/// <summary>Issue 12 item 6: the handshake's fields are checked as a reading's are, and auth settles the session.</summary>
public sealed class HandshakeTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Theory]
    [InlineData("""{"type":"handshake","clientType":"microcontroller","deviceId":"esp-h","bootId":-7}""", "bootId -7 must not be negative")]
    [InlineData("""{"type":"handshake","bootId":"7"}""", "bootId must be an integer")]
    [InlineData("""{"type":"handshake","bootId":1.5}""", "bootId 1.5 is not an integer")]
    [InlineData("""{"type":"handshake","heartbeatInterval":50}""", "heartbeatInterval 50 must be between 100 and 3600000")]
    [InlineData("""{"type":"handshake","heartbeatInterval":-1}""", "heartbeatInterval -1 must not be negative")]
    [InlineData("""{"type":"handshake","heartbeatInterval":"often"}""", "heartbeatInterval must be an integer")]
    [InlineData("""{"type":"handshake","deviceId":"esp h/1"}""", "deviceId 'esp h/1' must be")]
    [InlineData("""{"type":"handshake","deviceId":42}""", "deviceId must be a string")]
    [InlineData("""{"type":"handshake","clientType":"robot"}""", "clientType 'robot' is not one of")]
    [InlineData("""{"type":"handshake","version":"0123456789012345678901234567890123456789012345678901234567890123456789"}""", "version is 70 characters long")]
    [InlineData("""{"type":"handshake","capabilities":"sensor_data"}""", "capabilities must be an array")]
    [InlineData("""{"type":"handshake","capabilities":["sensor_data",7]}""", "capabilities[1] must be a string")]
    [InlineData("""{"type":"handshake","capabilities":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q","r","s","t","u","v","w","x","y","z","aa","ab","ac","ad","ae","af","ag"]}""", "capabilities lists 33 names")]
    public async Task A_handshake_field_a_reading_would_refuse_is_refused_with_validation_failed_and_nothing_is_applied(string handshake, string because)
    {
        var token = _gateway.AddDevice("esp-h");
        await using var client = await _gateway.ConnectAsync();
        var welcome = await client.ReceiveAsync("welcome");
        var session = _gateway.Service<ConnectionRegistry>().Find(welcome.GetProperty("clientId").GetString()!)!;

        await client.SendTextAsync(handshake);
        var error = await client.ReceiveAsync("error");
        Assert.Equal("validation_failed", error.GetProperty("code").GetString());
        Assert.Contains(because, error.GetProperty("message").GetString());
        Assert.False(session.HandshakeDone);
        Assert.Null(session.BootId);
        Assert.Null(session.ClaimedDeviceId);
        Assert.Equal(TimeSpan.FromSeconds(30), session.HeartbeatInterval);

        // The connection goes on: a good handshake and auth still work.
        await client.SendAsync(new { type = "handshake", clientType = "microcontroller", deviceId = "esp-h", bootId = 3, heartbeatInterval = 20000 });
        await client.ReceiveAsync("handshake_response");
        await client.SendAsync(new { type = "auth", token });
        Assert.True((await client.ReceiveAsync("auth_response")).GetProperty("success").GetBoolean());
        Assert.Equal(3, session.BootId);
    }

    [Fact]
    public async Task A_handshake_after_auth_is_refused_with_invalid_message_and_changes_nothing()
    {
        var token = _gateway.AddDevice("esp-settled");
        await using var device = await _gateway.ConnectDeviceAsync("esp-settled", token, bootId: 4, heartbeatMs: 30000);
        var session = _gateway.Service<ConnectionRegistry>().FindDevice("esp-settled")!;

        await device.SendAsync(new { type = "handshake", clientType = "application", heartbeatInterval = 100, bootId = 4 });
        var error = await device.ReceiveAsync("error");
        Assert.Equal("invalid_message", error.GetProperty("code").GetString());
        Assert.Contains("before auth", error.GetProperty("message").GetString());
        await device.SendAsync(new { type = "handshake", clientType = "microcontroller", deviceId = "esp-other", bootId = 9 });
        Assert.Equal("invalid_message", (await device.ReceiveAsync("error")).GetProperty("code").GetString());

        Assert.Equal("microcontroller", session.ClientType);
        Assert.Equal(TimeSpan.FromSeconds(30), session.HeartbeatInterval);
        Assert.Equal(4, session.BootId);

        await using var viewer = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("viewer"));
        await viewer.SendAsync(new { type = "handshake", clientType = "service", bootId = 1 });
        Assert.Equal("invalid_message", (await viewer.ReceiveAsync("error")).GetProperty("code").GetString());
    }

    [Fact]
    public async Task After_auth_a_device_may_announce_a_higher_boot_and_only_the_boot_is_taken()
    {
        var token = _gateway.AddDevice("esp-reboot");
        await using var device = await _gateway.ConnectDeviceAsync("esp-reboot", token, bootId: 2, heartbeatMs: 30000);
        var session = _gateway.Service<ConnectionRegistry>().FindDevice("esp-reboot")!;

        await device.SendAsync(new { type = "handshake", clientType = "microcontroller", deviceId = "esp-reboot", bootId = 8, heartbeatInterval = 100 });
        await device.ReceiveAsync("handshake_response");
        Assert.Equal(8, session.BootId);
        Assert.Equal(TimeSpan.FromSeconds(30), session.HeartbeatInterval);
    }
}
