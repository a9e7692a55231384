using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Readings;

public sealed class ReadingsIngestTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(null, "Storage:CommitInterval=00:00:00.020", "RequiredFields:0=temperature");
    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private async Task<TestClient> DeviceAsync(string id, long bootId = 7)
    {
        var token = _gateway.AddDevice(id);
        return await _gateway.ConnectDeviceAsync(id, token, bootId);
    }

    private static object Reading(long seq, double t = 21.5, double h = 40, object? timestamp = null) => new
    {
        type = "data", dataType = "sensor", seq, bootId = 7,
        timestamp = timestamp ?? DateTimeOffset.UtcNow.ToString("O"),
        data = new { temperature = t, humidity = h, sensor_id = "dht22-a", location = "bedroom", battery_level = 85 },
    };

    [Fact]
    public async Task An_acknowledged_reading_is_already_in_the_database_file()
    {
        await using var device = await DeviceAsync("esp-ack");
        await device.SendAsync(Reading(1, 22.25, 51));
        var ack = await device.ReceiveAsync("data_response");

        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        Assert.Equal(1, ack.GetProperty("seq").GetInt64());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", ack.GetProperty("timestamp").GetString());
        var id = ack.GetProperty("insertId").GetInt64();
        // Read at once, through a connection that shares nothing with the gateway.
        var row = Assert.Single(ReadingsDb.Rows(_gateway.DataDir, "SELECT device_id, boot_id, seq, temperature, humidity, sensor_id, location, extra FROM readings WHERE id = $id", ("$id", id)));
        Assert.Equal(["esp-ack", 7L, 1L, 22.25, 51.0, "dht22-a", "bedroom", "{\"battery_level\":85}"], row);
    }

    [Fact]
    public async Task A_duplicate_sent_after_reconnecting_is_stored_once_and_answered_with_the_first_insert_id()
    {
        var token = _gateway.AddDevice("esp-dup");
        long first;
        await using (var device = await _gateway.ConnectDeviceAsync("esp-dup", token, 7))
        {
            await device.SendAsync(Reading(5));
            first = (await device.ReceiveAsync("data_response")).GetProperty("insertId").GetInt64();
            // Twice on the same connection, back to back (the second lands in the same group commit).
            await device.SendAsync(Reading(6));
            await device.SendAsync(Reading(6));
            var a = await device.ReceiveAsync("data_response", where: m => m.GetProperty("seq").GetInt64() == 6);
            var b = await device.ReceiveAsync("data_response", where: m => m.GetProperty("seq").GetInt64() == 6);
            Assert.False(a.TryGetProperty("duplicate", out _));
            Assert.True(b.GetProperty("duplicate").GetBoolean());
            Assert.Equal(a.GetProperty("insertId").GetInt64(), b.GetProperty("insertId").GetInt64());
        }
        await using (var again = await _gateway.ConnectDeviceAsync("esp-dup", token, 7))
        {
            await again.SendAsync(Reading(5));
            var ack = await again.ReceiveAsync("data_response");
            Assert.True(ack.GetProperty("success").GetBoolean());
            Assert.True(ack.GetProperty("duplicate").GetBoolean());
            Assert.Equal(first, ack.GetProperty("insertId").GetInt64());
            Assert.Equal(5, ack.GetProperty("seq").GetInt64());
        }
        Assert.Equal(1, ReadingsDb.Scalar(_gateway.DataDir, "SELECT count(*) FROM readings WHERE device_id = 'esp-dup' AND seq = 5"));
        Assert.Equal(2, ReadingsDb.ReadingCount(_gateway.DataDir));
    }

    [Fact]
    public async Task The_same_seq_in_a_new_boot_is_a_new_reading_and_readings_without_seq_are_never_duplicates()
    {
        var token = _gateway.AddDevice("esp-boot");
        await using var device = await _gateway.ConnectDeviceAsync("esp-boot", token, 7);
        await device.SendAsync(Reading(1));
        await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 8, data = new { temperature = 20, humidity = 40 } });
        await device.SendAsync(new { type = "data", dataType = "sensor", data = new { temperature = 20, humidity = 40 } });
        await device.SendAsync(new { type = "data", dataType = "sensor", data = new { temperature = 20, humidity = 40 } });
        for (var i = 0; i < 4; i++)
        {
            var ack = await device.ReceiveAsync("data_response");
            Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
            Assert.False(ack.TryGetProperty("duplicate", out _), ack.ToString());
        }
        Assert.Equal(4, ReadingsDb.Scalar(_gateway.DataDir, "SELECT count(*) FROM readings WHERE device_id = 'esp-boot'"));
        // Without bootId in the message the handshake's boot applies.
        Assert.Equal(3, ReadingsDb.Scalar(_gateway.DataDir, "SELECT count(*) FROM readings WHERE device_id = 'esp-boot' AND boot_id = 7"));
    }

    public static TheoryData<string, string, string> InvalidReadings => new()
    {
        { """{"humidity":40}""", "temperature", "temperature is required" },
        { """{"temperature":"21.5","humidity":40}""", "temperature", "temperature must be a number, not a string" },
        { """{"temperature":null,"humidity":40}""", "temperature", "temperature must be a number, not null" },
        { """{"temperature":21.5,"humidity":140}""", "humidity", "humidity 140 is outside 0..100" },
        { """{"temperature":-41,"humidity":40}""", "temperature", "temperature -41 is outside -40..80" },
        { """{"temperature":1e308,"humidity":40}""", "temperature", "temperature 1E+308 is outside -40..80" },
        { """{"temperature":21.5,"humidity":"NaN"}""", "humidity", "humidity must be a number, not a string" },
        { """{"temperature":21.5,"humidity":1e400}""", "humidity", "humidity 1e400 is not a finite number" },
        { """{"temperature":true,"humidity":40}""", "temperature", "temperature must be a number, not a boolean" },
        { """{"temperature":21.5,"humidity":40,"location":{"room":1}}""", "location", "location must be a string, not an object" },
    };

    [Theory]
    [MemberData(nameof(InvalidReadings))]
    public async Task An_invalid_reading_is_refused_with_a_message_naming_the_field_and_nothing_is_stored(string data, string field, string message)
    {
        await using var device = await DeviceAsync("esp-bad");
        await device.SendTextAsync($$"""{"type":"data","dataType":"sensor","seq":3,"bootId":7,"data":{{data}}}""");
        var refusal = await device.ReceiveAsync("data_response");

        Assert.False(refusal.GetProperty("success").GetBoolean());
        Assert.Equal("validation_failed", refusal.GetProperty("error").GetString());
        Assert.Equal(message, refusal.GetProperty("message").GetString());
        Assert.Contains(field, refusal.GetProperty("message").GetString());
        Assert.Equal(3, refusal.GetProperty("seq").GetInt64());
        Assert.Equal(0, ReadingsDb.ReadingCount(_gateway.DataDir));
        // The connection stays usable.
        await device.SendAsync(Reading(4));
        Assert.True((await device.ReceiveAsync("data_response")).GetProperty("success").GetBoolean());
    }

    [Theory]
    [InlineData("""{"type":"data","dataType":"sensor","seq":"12","data":{"temperature":20,"humidity":40}}""", "seq must be an integer, not a string")]
    [InlineData("""{"type":"data","dataType":"sensor","seq":1.5,"data":{"temperature":20,"humidity":40}}""", "seq 1.5 is not an integer")]
    [InlineData("""{"type":"data","dataType":"sensor","bootId":"x","data":{"temperature":20,"humidity":40}}""", "bootId must be an integer, not a string")]
    [InlineData("""{"type":"data","dataType":"sensor","timestamp":true,"data":{"temperature":20,"humidity":40}}""", "timestamp must be an ISO-8601 string or epoch milliseconds, not a boolean")]
    [InlineData("""{"type":"data","dataType":"sensor","timestamp":"yesterday","data":{"temperature":20,"humidity":40}}""", "timestamp 'yesterday' is neither an ISO-8601 time nor epoch milliseconds")]
    [InlineData("""{"type":"data","dataType":"sensor","data":[20,40]}""", "data must be an object, not an array")]
    [InlineData("""{"type":"data","dataType":7,"data":{"temperature":20,"humidity":40}}""", "dataType must be a string, not a number")]
    [InlineData("""{"type":"data","dataType":"sensor","batch":{}}""", "batch must be an array, not an object")]
    public async Task Envelope_fields_of_the_wrong_type_are_refused_as_validation_failed_naming_the_field(string message, string expected)
    {
        await using var device = await DeviceAsync("esp-env");
        await device.SendTextAsync(message);
        var refusal = await device.ReceiveAsync("data_response");
        Assert.False(refusal.GetProperty("success").GetBoolean());
        Assert.Equal("validation_failed", refusal.GetProperty("error").GetString());
        Assert.Equal(expected, refusal.GetProperty("message").GetString());
        Assert.Equal(0, ReadingsDb.ReadingCount(_gateway.DataDir));
    }

    [Fact]
    public async Task The_seed_sketch_legacy_form_with_a_millis_timestamp_is_stored_dated_by_the_gateway()
    {
        await using var device = await DeviceAsync("esp-legacy");
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await device.SendTextAsync("""{"type":"sensor_data","temperature":25.0,"humidity":60,"sensor_id":"ESP32_DHT22_01","location":"living_room","battery_level":85,"timestamp":123456}""");
        var ack = await device.ReceiveAsync("data_response");

        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        Assert.False(ack.TryGetProperty("seq", out _));
        var at = DateTimeOffset.Parse(ack.GetProperty("timestamp").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(at, before, DateTimeOffset.UtcNow.AddSeconds(1));
        var row = Assert.Single(ReadingsDb.Rows(_gateway.DataDir, "SELECT device_ts, temperature, humidity, sensor_id, location, extra, ts FROM readings"));
        Assert.Equal(123456L, row[0]);
        Assert.Equal([25.0, 60.0, "ESP32_DHT22_01", "living_room", "{\"battery_level\":85}"], row[1..6]);
        Assert.Equal(at.ToUnixTimeMilliseconds(), row[6]);
    }

    [Fact]
    public async Task Plausible_timestamps_as_iso_or_epoch_milliseconds_date_the_reading()
    {
        await using var device = await DeviceAsync("esp-time");
        await device.SendAsync(Reading(1, timestamp: "2026-11-20T10:00:00.250Z"));
        await device.SendAsync(Reading(2, timestamp: 1_763_633_000_123L));
        await device.SendAsync(Reading(3, timestamp: "2026-11-20T10:00:00")); // Python's isoformat(): no zone, read as UTC
        Assert.Equal("2026-11-20T10:00:00.250Z", (await device.ReceiveAsync("data_response")).GetProperty("timestamp").GetString());
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_763_633_000_123L).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"), (await device.ReceiveAsync("data_response")).GetProperty("timestamp").GetString());
        Assert.Equal("2026-11-20T10:00:00.000Z", (await device.ReceiveAsync("data_response")).GetProperty("timestamp").GetString());
        Assert.Equal(0, ReadingsDb.Scalar(_gateway.DataDir, "SELECT count(*) FROM readings WHERE device_ts IS NOT NULL"));
    }

    [Fact]
    public async Task A_batch_gets_one_result_per_reading_in_order_and_stores_only_the_valid_ones()
    {
        await using var device = await DeviceAsync("esp-batch");
        await device.SendAsync(Reading(10));
        await device.ReceiveAsync("data_response");
        var now = DateTimeOffset.UtcNow;
        await device.SendTextAsync($$$"""
            {"type":"data","dataType":"sensor","bootId":7,"batch":[
              {"seq":10,"timestamp":"{{{now:O}}}","data":{"temperature":21,"humidity":40}},
              {"seq":11,"timestamp":"{{{now:O}}}","data":{"temperature":21,"humidity":140}},
              {"seq":12,"timestamp":"{{{now:O}}}","data":{"temperature":22,"humidity":41}},
              {"seq":12,"timestamp":"{{{now:O}}}","data":{"temperature":22,"humidity":41}},
              "oops"]}
            """);
        var response = await device.ReceiveAsync("data_response");

        Assert.True(response.GetProperty("success").GetBoolean());
        var results = response.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(5, results.Length);
        Assert.Equal(10, results[0].GetProperty("seq").GetInt64());
        Assert.True(results[0].GetProperty("duplicate").GetBoolean());
        Assert.Equal(11, results[1].GetProperty("seq").GetInt64());
        Assert.Equal("validation_failed", results[1].GetProperty("error").GetString());
        Assert.Equal("humidity 140 is outside 0..100", results[1].GetProperty("message").GetString());
        Assert.Equal(12, results[2].GetProperty("seq").GetInt64());
        var stored = results[2].GetProperty("insertId").GetInt64();
        Assert.False(results[2].TryGetProperty("duplicate", out _));
        Assert.True(results[3].GetProperty("duplicate").GetBoolean());
        Assert.Equal(stored, results[3].GetProperty("insertId").GetInt64());
        Assert.Equal("batch[4] must be an object, not a string", results[4].GetProperty("message").GetString());
        Assert.Equal([10L, 12L], ReadingsDb.Rows(_gateway.DataDir, "SELECT seq FROM readings ORDER BY seq").Select(r => (long)r[0]!));
    }

    [Fact]
    public async Task A_viewer_may_store_nothing_and_a_technician_may_store_other_data_types_as_events()
    {
        await using var viewer = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("viewer", "viewer-data"));
        await using var technician = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("technician", "tech-data"));
        await using var subscriber = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("viewer"));
        await subscriber.SendAsync(new { type = "subscribe", topic = "data/#" });
        await subscriber.ReceiveAsync("subscribe_response");

        // Issue 12 item 3: a viewer key wrote 13 MB of "application" events; now every dataType is refused, in order.
        await viewer.SendAsync(new { type = "data", dataType = "sensor", data = new { temperature = 20, humidity = 40 } });
        await viewer.SendAsync(new { type = "sensor_data", temperature = 20, humidity = 40 });
        await viewer.SendAsync(new { type = "data", dataType = "application", seq = 7, data = new { blob = new string('x', 60_000) } });
        foreach (var seq in new long?[] { null, null, 7 })
        {
            var refused = await viewer.ReceiveAsync("data_response");
            Assert.False(refused.GetProperty("success").GetBoolean());
            Assert.Equal("forbidden", refused.GetProperty("error").GetString());
            if (seq is { } s) Assert.Equal(s, refused.GetProperty("seq").GetInt64());
        }
        Assert.True(await subscriber.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(300)));
        Assert.Equal(0L, (long)ReadingsDb.Rows(_gateway.DataDir, "SELECT COUNT(*) FROM events")[0][0]!);

        await technician.SendAsync(new { type = "data", dataType = "sensor", data = new { temperature = 20, humidity = 40 } });
        Assert.Equal("forbidden", (await technician.ReceiveAsync("data_response")).GetProperty("error").GetString());
        await technician.SendAsync(new { type = "data", dataType = "application", data = new { message = "hello", user = "ann" }, timestamp = "2026-11-21T10:00:00.000" });
        var ack = await technician.ReceiveAsync("data_response");
        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        var id = ack.GetProperty("insertId").GetInt64();
        var published = await subscriber.ReceiveAsync("publish");
        Assert.Equal("data/application", published.GetProperty("topic").GetString());
        Assert.Equal("hello", published.GetProperty("data").GetProperty("data").GetProperty("message").GetString());
        Assert.Equal(id, published.GetProperty("data").GetProperty("insertId").GetInt64());

        var row = Assert.Single(ReadingsDb.Rows(_gateway.DataDir, "SELECT data_type, client_id, principal, data FROM events WHERE id = $id", ("$id", id)));
        Assert.Equal("application", row[0]);
        Assert.Equal("tech-data", row[2]);
        Assert.Equal("""{"message":"hello","user":"ann"}""", row[3]);
        Assert.Equal(0, ReadingsDb.ReadingCount(_gateway.DataDir));
    }

    [Fact]
    public async Task A_stored_reading_is_published_on_sensor_updates_and_the_device_topic_after_its_ack()
    {
        await using var dashboard = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("viewer"));
        await dashboard.SendAsync(new { type = "subscribe", topic = "sensor_updates" });
        await dashboard.ReceiveAsync("subscribe_response");
        await dashboard.SendAsync(new { type = "subscribe", topic = "devices/esp-pub/readings" });
        await dashboard.ReceiveAsync("subscribe_response");
        var stored = new List<IotWs.Gateway.Readings.StoredReading>();
        _gateway.Service<IotWs.Gateway.Connections.GatewayEvents>().ReadingStored += r => { lock (stored) stored.Add(r); };

        await using var device = await DeviceAsync("esp-pub");
        await device.SendAsync(Reading(1, 23.5, 45));
        var ack = await device.ReceiveAsync("data_response");
        var a = await dashboard.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "sensor_updates");
        var b = await dashboard.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "devices/esp-pub/readings");

        foreach (var m in new[] { a, b })
        {
            var data = m.GetProperty("data");
            Assert.Equal(["deviceId", "sensor_id", "location", "temperature", "humidity", "timestamp", "insertId"], data.EnumerateObject().Select(p => p.Name));
            Assert.Equal("esp-pub", data.GetProperty("deviceId").GetString());
            Assert.Equal(23.5, data.GetProperty("temperature").GetDouble());
            Assert.Equal(ack.GetProperty("insertId").GetInt64(), data.GetProperty("insertId").GetInt64());
            Assert.Equal(ack.GetProperty("timestamp").GetString(), data.GetProperty("timestamp").GetString());
        }
        lock (stored) Assert.Equal(ack.GetProperty("insertId").GetInt64(), Assert.Single(stored).InsertId);
        // A duplicate is not published again.
        await device.SendAsync(Reading(1, 23.5, 45));
        Assert.True((await device.ReceiveAsync("data_response")).GetProperty("duplicate").GetBoolean());
        Assert.True(await dashboard.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Replies_to_data_messages_keep_the_order_of_the_messages()
    {
        await using var device = await DeviceAsync("esp-order");
        for (var i = 1; i <= 30; i++)
        {
            await device.SendAsync(i % 7 == 0 ? Reading(i, h: 120) : Reading(i));
        }
        var seqs = new List<long>();
        for (var i = 1; i <= 30; i++) seqs.Add((await device.ReceiveAsync("data_response")).GetProperty("seq").GetInt64());
        Assert.Equal(Enumerable.Range(1, 30).Select(i => (long)i), seqs);
        Assert.Equal(26, ReadingsDb.ReadingCount(_gateway.DataDir));
    }

    [Fact]
    public async Task A_configured_required_field_must_be_present()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Storage:CommitInterval=00:00:00.020", "RequiredFields:0=sensor_id");
        var token = gateway.AddDevice("esp-req");
        await using var device = await gateway.ConnectDeviceAsync("esp-req", token, 1);
        await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, data = new { temperature = 20, humidity = 40 } });
        Assert.Equal("sensor_id is required (Gateway:RequiredFields)", (await device.ReceiveAsync("data_response")).GetProperty("message").GetString());
        await device.SendAsync(new { type = "data", dataType = "sensor", seq = 2, data = new { temperature = 20, humidity = 40, sensor_id = "s1" } });
        Assert.True((await device.ReceiveAsync("data_response")).GetProperty("success").GetBoolean());
        Assert.Equal(1, ReadingsDb.ReadingCount(gateway.DataDir));
    }
}
