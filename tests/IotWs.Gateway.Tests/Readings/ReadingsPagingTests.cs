using System.Text;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Readings;

/// <summary>
/// Issue 12 item 12: get_readings never answers more than the welcome's maxPayloadSize. It pages: each response is the
/// newest part of what is left, and carries a cursor while more is left.
/// </summary>
public sealed class ReadingsPagingTests : IAsyncLifetime
{
    private const int MaxPayloadSize = 65_536;
    private TestGateway _gateway = null!;
    private TestClient _viewer = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(null, "Storage:CommitInterval=00:00:00.020");
        var token = _gateway.AddDevice("esp-big");
        _gateway.AddDevice("esp-small");
        await using var device = await _gateway.ConnectDeviceAsync("esp-big", token);
        var pad = new string('s', 200);
        var seq = 0;
        var past = DateTimeOffset.UtcNow.AddHours(-1);
        for (var b = 0; b < 6; b++)
        {
            // Batches 3-5 carry an uptime as their time: all 100 readings of each are dated on arrival, one millisecond.
            var batch = Enumerable.Range(0, 100).Select(_ =>
            {
                seq++;
                object timestamp = b < 3 ? past.AddSeconds(seq).ToUnixTimeMilliseconds() : 12345;
                return new { data = new { temperature = 20.5, humidity = 40.0, sensor_id = pad, location = pad }, seq, bootId = 1, timestamp };
            }).ToArray();
            await device.SendAsync(new { type = "data", dataType = "sensor", batch });
            var ack = await device.ReceiveAsync("data_response");
            Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        }
        _viewer = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("viewer"));
    }

    public async Task DisposeAsync()
    {
        await _viewer.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task A_large_get_readings_comes_in_pages_that_each_fit_max_payload_size_and_together_hold_every_reading_once()
    {
        var pages = await ReadAllAsync(new { deviceId = "esp-big", limit = 100_000 });
        Assert.True(pages.Count > 4, $"{pages.Count} pages");
        Assert.All(pages, p => Assert.True(p.Bytes <= MaxPayloadSize, $"a response of {p.Bytes} bytes"));
        // Pages go from the newest back; each page is oldest first.
        var seqs = pages.AsEnumerable().Reverse().SelectMany(p => p.Seqs).ToList();
        Assert.Equal(Enumerable.Range(1, 600).Select(i => (long)i), seqs);
    }

    [Fact]
    public async Task The_limit_counts_over_all_pages_and_gives_the_newest_readings()
    {
        var pages = await ReadAllAsync(new { deviceId = "esp-big", limit = 250 });
        Assert.True(pages.Count > 1);
        var seqs = pages.AsEnumerable().Reverse().SelectMany(p => p.Seqs).ToList();
        Assert.Equal(Enumerable.Range(351, 250).Select(i => (long)i), seqs);
        Assert.Null(pages[^1].Cursor);
    }

    [Fact]
    public async Task A_small_answer_is_one_page_without_a_cursor()
    {
        var pages = await ReadAllAsync(new { deviceId = "esp-big", limit = 5 });
        var page = Assert.Single(pages);
        Assert.Equal([596L, 597, 598, 599, 600], page.Seqs);
        Assert.Null(page.Cursor);
    }

    [Fact]
    public async Task A_cursor_that_was_not_given_or_names_another_device_is_refused()
    {
        var first = await RequestAsync("c1", new { deviceId = "esp-big", limit = 100_000 });
        var cursor = first.GetProperty("cursor").GetString()!;

        var other = await RequestAsync("c2", new { deviceId = "esp-small", cursor });
        Assert.False(other.GetProperty("success").GetBoolean());
        Assert.Equal("validation_failed", other.GetProperty("code").GetString());

        var forged = await RequestAsync("c3", new { cursor = "not-a-cursor" });
        Assert.Equal("validation_failed", forged.GetProperty("code").GetString());
        var tampered = await RequestAsync("c4", new { cursor = Convert.ToBase64String(Encoding.UTF8.GetBytes("r1|esp-big|raw|9|1|1|0|5")).TrimEnd('=') });
        Assert.Equal("validation_failed", tampered.GetProperty("code").GetString());
    }

    private sealed record PageSeen(int Bytes, IReadOnlyList<long> Seqs, string? Cursor);

    private async Task<List<PageSeen>> ReadAllAsync(object firstArgs)
    {
        var pages = new List<PageSeen>();
        object args = firstArgs;
        for (var n = 0; n < 100; n++)
        {
            var requestId = "p" + Guid.NewGuid().ToString("N")[..8];
            var response = await RequestAsync(requestId, args);
            Assert.True(response.GetProperty("success").GetBoolean(), response.ToString());
            string raw;
            lock (_viewer.RawMessages) raw = _viewer.RawMessages.Single(m => m.Contains(requestId, StringComparison.Ordinal));
            var cursor = response.TryGetProperty("cursor", out var c) ? c.GetString() : null;
            pages.Add(new PageSeen(Encoding.UTF8.GetByteCount(raw), response.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()).ToList(), cursor));
            if (cursor is null) return pages;
            args = new { cursor };
        }
        throw new InvalidOperationException("more than 100 pages");
    }

    private async Task<JsonElement> RequestAsync(string requestId, object data)
    {
        await _viewer.SendAsync(new { type = "request", requestId, endpoint = "get_readings", data });
        return await _viewer.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == requestId);
    }
}
