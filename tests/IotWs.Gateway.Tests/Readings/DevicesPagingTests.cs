using System.Text;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Readings;

/// <summary>
/// Issue 12 item 12 for get_devices: a fleet whose list would not fit one message comes in pages, each within the
/// welcome's maxPayloadSize, with the same cursor as get_readings. The limit is set to 8 KB so that 150 devices
/// (about 30 KB of JSON) need several pages without provisioning thousands.
/// </summary>
public sealed class DevicesPagingTests : IAsyncLifetime
{
    private const int MaxPayloadSize = 8192;
    private const int Fleet = 150;
    private TestGateway _gateway = null!;
    private TestClient _viewer = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(null, $"MaxPayloadSize={MaxPayloadSize}");
        for (var i = 0; i < Fleet; i++) _gateway.Identities.AddDevice($"esp-{i:D3}", "Sensor in room " + i, "Building A, floor " + (i % 7));
        _gateway.AddDevice("esp-gone");
        _gateway.Identities.RevokeDevice("esp-gone");
        _viewer = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("viewer"));
    }

    public async Task DisposeAsync()
    {
        await _viewer.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task A_fleet_larger_than_one_message_comes_in_pages_that_each_fit_and_together_list_every_device_once()
    {
        var welcome = await WelcomeLimitAsync();
        Assert.Equal(MaxPayloadSize, welcome);

        var pages = new List<(int Bytes, List<string> Ids, string? Cursor)>();
        string? cursor = null;
        do
        {
            var requestId = "g" + pages.Count;
            var response = await RequestAsync(requestId, cursor is null ? new { } : new { cursor });
            Assert.True(response.GetProperty("success").GetBoolean(), response.ToString());
            cursor = response.TryGetProperty("cursor", out var c) ? c.GetString() : null;
            var ids = response.GetProperty("data").EnumerateArray().Select(d => d.GetProperty("deviceId").GetString()!).ToList();
            pages.Add((RawBytes(requestId), ids, cursor));
        }
        while (cursor is not null && pages.Count < 100);

        Assert.True(pages.Count > 2, $"{pages.Count} pages");
        Assert.All(pages, p => Assert.True(p.Bytes <= MaxPayloadSize, $"a response of {p.Bytes} bytes"));
        Assert.All(pages, p => Assert.NotEmpty(p.Ids));
        // Every device not revoked, once, in id order, across the pages.
        Assert.Equal(Enumerable.Range(0, Fleet).Select(i => $"esp-{i:D3}"), pages.SelectMany(p => p.Ids));
        Assert.Null(pages[^1].Cursor);
    }

    [Fact]
    public async Task A_cursor_that_was_not_given_or_is_get_readings_own_is_refused()
    {
        var forged = await RequestAsync("f1", new { cursor = "not-a-cursor" });
        Assert.False(forged.GetProperty("success").GetBoolean());
        Assert.Equal("validation_failed", forged.GetProperty("code").GetString());

        var readingsCursor = Convert.ToBase64String(Encoding.UTF8.GetBytes("r1|esp-001|raw|1|9|5|0|5")).TrimEnd('=');
        var crossed = await RequestAsync("f2", new { cursor = readingsCursor });
        Assert.Equal("validation_failed", crossed.GetProperty("code").GetString());

        var notText = await RequestAsync("f3", new { cursor = 7 });
        Assert.Equal("validation_failed", notText.GetProperty("code").GetString());
    }

    private async Task<int> WelcomeLimitAsync()
    {
        await using var anonymous = await _gateway.ConnectAsync();
        return (await anonymous.ReceiveAsync("welcome")).GetProperty("maxPayloadSize").GetInt32();
    }

    private int RawBytes(string requestId)
    {
        lock (_viewer.RawMessages)
        {
            return Encoding.UTF8.GetByteCount(_viewer.RawMessages.Single(m => m.Contains($"\"requestId\":\"{requestId}\"", StringComparison.Ordinal)));
        }
    }

    private async Task<JsonElement> RequestAsync(string requestId, object data)
    {
        await _viewer.SendAsync(new { type = "request", requestId, endpoint = "get_devices", data });
        return await _viewer.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == requestId);
    }
}
