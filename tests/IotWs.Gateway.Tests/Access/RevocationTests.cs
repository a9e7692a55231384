using System.Net;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Access;

/// <summary>Issue 12 item 2: revocation by the CLI, in another process, reaches live sessions and requests within seconds.</summary>
public sealed class RevocationTests : IAsyncLifetime
{
    private static readonly TimeSpan FewSeconds = TimeSpan.FromSeconds(8);
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private async Task<string> Cli(params string[] args)
    {
        var (code, output, error) = await CliProcess.RunAsync(_gateway.DataDir, args);
        Assert.True(code == 0, $"{string.Join(' ', args)} → {code}: {error}");
        return output;
    }

    private async Task<string> CliAddDevice(string id) =>
        JsonDocument.Parse(await Cli("devices", "add", id)).RootElement.GetProperty("token").GetString()!;

    [Fact]
    public async Task A_device_revoked_by_the_cli_in_another_process_is_closed_with_4401_and_cannot_come_back()
    {
        // Added by the CLI too: the gateway knows the device on its first try, without waiting for a poll.
        var token = await CliAddDevice("esp-rev");
        await using var device = await _gateway.ConnectDeviceAsync("esp-rev", token);
        await device.SendAsync(new { type = "data", dataType = "sensor", data = new { temperature = 21, humidity = 40 }, seq = 1, bootId = 1 });
        Assert.True((await device.ReceiveAsync("data_response")).GetProperty("success").GetBoolean());

        await Cli("devices", "revoke", "esp-rev");

        Assert.Equal(4401, await device.WaitClosedAsync(FewSeconds));
        await using var again = await _gateway.ConnectAsync();
        await again.ReceiveAsync("welcome");
        await again.SendAsync(new { type = "auth", token });
        Assert.False((await again.ReceiveAsync("auth_response")).GetProperty("success").GetBoolean());
        Assert.Equal(4401, await again.WaitClosedAsync());
    }

    [Fact]
    public async Task Rotating_a_token_with_the_cli_closes_the_session_of_the_old_token_and_the_new_one_works()
    {
        var token = await CliAddDevice("esp-rot");
        await using var device = await _gateway.ConnectDeviceAsync("esp-rot", token);

        var rotated = JsonDocument.Parse(await Cli("devices", "rotate-token", "esp-rot")).RootElement.GetProperty("token").GetString()!;

        Assert.Equal(4401, await device.WaitClosedAsync(FewSeconds));
        await using var renewed = await _gateway.ConnectDeviceAsync("esp-rot", rotated);
        await renewed.SendAsync(new { type = "data", dataType = "sensor", data = new { temperature = 21, humidity = 40 }, seq = 1, bootId = 2 });
        Assert.True((await renewed.ReceiveAsync("data_response")).GetProperty("success").GetBoolean());
    }

    [Fact]
    public async Task A_key_revoked_by_the_cli_closes_its_websocket_with_4401_and_its_http_requests_get_401_saying_so()
    {
        var key = JsonDocument.Parse(await Cli("keys", "add", "tech-gone", "--role", "technician")).RootElement.GetProperty("key").GetString()!;
        await using var socket = await _gateway.ConnectWithKeyAsync(key);
        using var http = _gateway.Http(key);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/me")).StatusCode);
        // Another key's socket is not touched.
        await using var other = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("technician"));

        await Cli("keys", "revoke", "tech-gone");

        Assert.Equal(4401, await socket.WaitClosedAsync(FewSeconds));
        var deadline = DateTime.UtcNow + FewSeconds;
        HttpResponseMessage response;
        while ((response = await http.GetAsync("/api/me")).StatusCode == HttpStatusCode.OK && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains("revoked", problem.GetProperty("title").GetString());

        await other.SendAsync(new { type = "heartbeat" });
        await other.ReceiveAsync("heartbeat_response");
    }
}
