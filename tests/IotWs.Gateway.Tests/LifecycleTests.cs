using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests;

public sealed class LifecycleTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();
    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Welcome_carries_every_field_of_the_contract()
    {
        await using var client = await _gateway.ConnectAsync();
        var welcome = await client.ReceiveAsync("welcome");
        Assert.StartsWith("c_", welcome.GetProperty("clientId").GetString());
        Assert.True(welcome.GetProperty("authRequired").GetBoolean());
        Assert.Equal(1, welcome.GetProperty("protocolVersion").GetInt32());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", welcome.GetProperty("serverTime").GetString());
        Assert.Equal(30000, welcome.GetProperty("heartbeatInterval").GetInt32());
        Assert.Equal(65536, welcome.GetProperty("maxPayloadSize").GetInt32());
    }

    [Fact]
    public async Task Device_token_authenticates_its_device_through_a_pipelined_handshake_and_auth()
    {
        var token = _gateway.AddDevice("esp-1");
        await using var client = await _gateway.ConnectAsync();
        var welcome = await client.ReceiveAsync("welcome");
        // Sent back to back without waiting, as the seed clients do.
        await client.SendAsync(new { type = "handshake", clientType = "microcontroller", capabilities = new[] { "sensor_data" }, version = "1.0.0", deviceId = "esp-1", bootId = 3, heartbeatInterval = 30000 });
        await client.SendAsync(new { type = "auth", token });
        await client.SendAsync(new { type = "heartbeat", timestamp = 1234 });
        var hs = await client.ReceiveAsync("handshake_response");
        Assert.True(hs.GetProperty("success").GetBoolean());
        Assert.Equal(welcome.GetProperty("clientId").GetString(), hs.GetProperty("clientId").GetString());
        var auth = await client.ReceiveAsync("auth_response");
        Assert.True(auth.GetProperty("success").GetBoolean());
        Assert.Equal("device", auth.GetProperty("role").GetString());
        Assert.Equal("esp-1", auth.GetProperty("deviceId").GetString());
        var hb = await client.ReceiveAsync("heartbeat_response");
        Assert.Equal(1234, hb.GetProperty("timestamp").GetInt32());
        Assert.True(hb.TryGetProperty("serverTime", out _));
        // Order of replies follows the order of messages.
        var order = client.RawMessages.Select(m => JsonDocument.Parse(m).RootElement.GetProperty("type").GetString()).ToList();
        Assert.Equal(["welcome", "handshake_response", "auth_response", "heartbeat_response"], order);
    }

    [Theory]
    [InlineData("viewer")]
    [InlineData("technician")]
    [InlineData("admin")]
    public async Task Api_key_authenticates_with_its_role(string role)
    {
        var key = _gateway.AddKey(role);
        await using var client = await _gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        await client.SendAsync(new { type = "handshake", clientType = "application", capabilities = Array.Empty<string>(), version = "1.0.0" });
        await client.SendAsync(new { type = "auth", token = key });
        var auth = await client.ReceiveAsync("auth_response");
        Assert.True(auth.GetProperty("success").GetBoolean());
        Assert.Equal(role, auth.GetProperty("role").GetString());
    }

    [Fact]
    public async Task Wrong_token_is_refused_then_closed_with_4401()
    {
        await using var client = await _gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        await client.SendAsync(new { type = "auth", token = "iwd_not-a-real-token" });
        var auth = await client.ReceiveAsync("auth_response");
        Assert.False(auth.GetProperty("success").GetBoolean());
        Assert.Equal("auth_failed", auth.GetProperty("error").GetString());
        Assert.Equal(4401, await client.WaitClosedAsync());
    }

    [Fact]
    public async Task A_connection_that_never_authenticates_is_closed_with_4401()
    {
        await using var gateway = await TestGateway.StartAsync(null, "AuthTimeout=00:00:01");
        await using var client = await gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        Assert.Equal(4401, await client.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("timed out", client.CloseDescription);
    }

    [Fact]
    public async Task A_token_presented_for_another_devices_id_is_refused()
    {
        _gateway.AddDevice("esp-a");
        var tokenB = _gateway.AddDevice("esp-b");
        await using var client = await _gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        await client.SendAsync(new { type = "handshake", clientType = "microcontroller", deviceId = "esp-a", bootId = 1 });
        await client.SendAsync(new { type = "auth", token = tokenB });
        var auth = await client.ReceiveAsync("auth_response");
        Assert.False(auth.GetProperty("success").GetBoolean());
        Assert.Equal(4401, await client.WaitClosedAsync());
    }

    [Fact]
    public async Task Messages_before_auth_get_not_authenticated_and_are_not_applied()
    {
        await using var client = await _gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        await client.SendAsync(new { type = "data", dataType = "sensor", data = new { temperature = 21.5, humidity = 40 } });
        await client.SendAsync(new { type = "subscribe", topic = "sensor_updates" });
        var e1 = await client.ReceiveAsync("error");
        var e2 = await client.ReceiveAsync("error");
        Assert.Equal("not_authenticated", e1.GetProperty("code").GetString());
        Assert.Equal("not_authenticated", e2.GetProperty("code").GetString());
        Assert.True(await client.NothingOfTypeAsync("data_response", TimeSpan.FromMilliseconds(300)));
        // heartbeat is allowed before auth
        await client.SendAsync(new { type = "heartbeat" });
        await client.ReceiveAsync("heartbeat_response");
    }

    [Fact]
    public async Task A_second_connection_of_a_device_replaces_the_first_with_4409()
    {
        var token = _gateway.AddDevice("esp-dup");
        await using var first = await _gateway.ConnectDeviceAsync("esp-dup", token);
        await using var second = await _gateway.ConnectDeviceAsync("esp-dup", token, bootId: 2);
        Assert.Equal(4409, await first.WaitClosedAsync());
        await second.SendAsync(new { type = "heartbeat" });
        await second.ReceiveAsync("heartbeat_response");
    }

    [Fact]
    public async Task Bad_json_wrong_shapes_and_unknown_types_get_errors_and_the_connection_stays_usable()
    {
        var key = _gateway.AddKey("viewer");
        await using var client = await _gateway.ConnectWithKeyAsync(key);
        await client.SendTextAsync("{not json");
        Assert.Equal("invalid_json", (await client.ReceiveAsync("error")).GetProperty("code").GetString());
        await client.SendTextAsync("[1,2]");
        Assert.Equal("invalid_message", (await client.ReceiveAsync("error")).GetProperty("code").GetString());
        await client.SendTextAsync("{\"type\":42}");
        Assert.Equal("invalid_message", (await client.ReceiveAsync("error")).GetProperty("code").GetString());
        await client.SendAsync(new { type = "teleport" });
        Assert.Equal("unknown_type", (await client.ReceiveAsync("error")).GetProperty("code").GetString());
        await client.SendBinaryAsync([1, 2, 3]);
        Assert.Equal("unsupported_binary", (await client.ReceiveAsync("error")).GetProperty("code").GetString());
        await client.SendAsync(new { type = "heartbeat", timestamp = 7 });
        Assert.Equal(7, (await client.ReceiveAsync("heartbeat_response")).GetProperty("timestamp").GetInt32());
    }

    [Fact]
    public async Task A_message_over_max_payload_size_closes_with_1009()
    {
        var key = _gateway.AddKey("viewer");
        await using var client = await _gateway.ConnectWithKeyAsync(key);
        var big = new string('x', 70 * 1024);
        await client.SendTextAsync("{\"type\":\"heartbeat\",\"pad\":\"" + big + "\"}");
        Assert.Equal(1009, await client.WaitClosedAsync());
    }

    [Fact]
    public async Task Text_is_relayed_as_raw_utf8_without_escapes()
    {
        var key = _gateway.AddKey("technician");
        await using var sender = await _gateway.ConnectWithKeyAsync(key);
        await using var receiver = await _gateway.ConnectWithKeyAsync(key);
        await receiver.SendAsync(new { type = "subscribe", topic = "system_alerts" });
        await receiver.ReceiveAsync("subscribe_response");
        await sender.SendTextAsync("{\"type\":\"publish\",\"topic\":\"system_alerts\",\"data\":{\"message\":\"<ü/>&'+ 😀 a\\/b \\u0001\"}}");
        await receiver.ReceiveAsync("publish");
        var raw = receiver.RawMessages.Last();
        Assert.Contains("<ü/>&'+ 😀 a/b \uFFFD", raw);
        Assert.DoesNotContain("\\u", raw);
        Assert.DoesNotContain("\\/", raw);
    }

    [Fact]
    public async Task The_seed_sketch_can_connect_at_the_root_path()
    {
        await using var client = await TestClient.ConnectAsync(new Uri(_gateway.WsUri.ToString().Replace("/ws", "/")));
        var welcome = await client.ReceiveAsync("welcome");
        Assert.True(welcome.GetProperty("authRequired").GetBoolean());
    }
}
