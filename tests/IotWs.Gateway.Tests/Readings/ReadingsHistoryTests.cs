using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Readings;

public sealed class ReadingsHistoryTests
{
    private static readonly string[] FastCommits = ["Storage:CommitInterval=00:00:00.020"];

    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static async Task<long> SendAsync(TestClient device, long seq, double t, double h, DateTimeOffset at, string? location = "bench")
    {
        await device.SendAsync(new { type = "data", dataType = "sensor", seq, bootId = 3, timestamp = Iso(at), data = new { temperature = t, humidity = h, sensor_id = "dht", location } });
        var ack = await device.ReceiveAsync("data_response", where: m => m.TryGetProperty("seq", out var s) && s.GetInt64() == seq);
        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        return ack.GetProperty("insertId").GetInt64();
    }

    private static async Task<JsonElement> GetJsonAsync(HttpClient http, string path)
    {
        var response = await http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    [Fact]
    public async Task Device_list_and_device_detail_have_the_dashboard_shapes()
    {
        await using var gateway = await TestGateway.StartAsync(null, FastCommits);
        var token = gateway.Identities.AddDevice("esp-shape", "Bedroom sensor", "bedroom");
        gateway.Identities.AddDevice("esp-quiet", null, null);
        var http = gateway.Http(gateway.AddKey("viewer"));
        await using var device = await gateway.ConnectDeviceAsync("esp-shape", token, 3);
        var at = DateTimeOffset.UtcNow.AddMinutes(-1);
        var id = await SendAsync(device, 1, 21.25, 44.5, at);

        var list = await GetJsonAsync(http, "/api/devices");
        Assert.Equal(["esp-quiet", "esp-shape"], list.EnumerateArray().Select(d => d.GetProperty("deviceId").GetString()));
        var d = list[1];
        Assert.Equal(["deviceId", "name", "location", "status", "statusSince", "lastSeen", "bootId", "lastReading", "heartbeat"], d.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Bedroom sensor", d.GetProperty("name").GetString());
        Assert.Equal("bedroom", d.GetProperty("location").GetString());
        Assert.Equal("online", d.GetProperty("status").GetString());
        Assert.Equal(3, d.GetProperty("bootId").GetInt64());
        var last = d.GetProperty("lastReading");
        Assert.Equal(["temperature", "humidity", "timestamp", "insertId"], last.EnumerateObject().Select(p => p.Name));
        Assert.Equal(21.25, last.GetProperty("temperature").GetDouble());
        Assert.Equal(Iso(at), last.GetProperty("timestamp").GetString());
        Assert.Equal(id, last.GetProperty("insertId").GetInt64());
        Assert.Equal(JsonValueKind.Null, list[0].GetProperty("lastReading").ValueKind);
        Assert.Equal(JsonValueKind.Null, list[0].GetProperty("name").ValueKind);

        // A newer reading replaces it; a replayed older one does not.
        var newer = await SendAsync(device, 2, 22, 45, at.AddSeconds(30));
        await SendAsync(device, 3, 19, 45, at.AddHours(-5));
        var detail = await GetJsonAsync(http, "/api/devices/esp-shape");
        Assert.Equal(newer, detail.GetProperty("lastReading").GetProperty("insertId").GetInt64());
        Assert.Equal(JsonValueKind.Array, detail.GetProperty("presenceHistory").ValueKind);
        Assert.Equal("esp-shape", detail.GetProperty("deviceId").GetString());

        var missing = await http.GetAsync("/api/devices/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/devices/nope/readings")).StatusCode);
    }

    [Fact]
    public async Task History_needs_an_api_key()
    {
        await using var gateway = await TestGateway.StartAsync(null, FastCommits);
        gateway.AddDevice("esp-auth");
        var anonymous = gateway.Http();
        foreach (var path in new[] { "/api/devices", "/api/devices/esp-auth", "/api/devices/esp-auth/readings" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(path)).StatusCode);
        }
        var wrong = gateway.Http("iwk_not-a-key");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/api/devices")).StatusCode);
    }

    [Fact]
    public async Task Raw_history_is_oldest_first_in_the_range_and_rollups_and_csv_have_their_shapes()
    {
        await using var gateway = await TestGateway.StartAsync(null, FastCommits);
        var token = gateway.AddDevice("esp-hist");
        var http = gateway.Http(gateway.AddKey("viewer"));
        await using var device = await gateway.ConnectDeviceAsync("esp-hist", token, 3);
        var baseTime = new DateTimeOffset(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);
        // Minute 10:00 gets 20 and 22, minute 10:01 gets 30; one an hour later; one far outside the range.
        await SendAsync(device, 1, 20, 40, baseTime.AddSeconds(5));
        await SendAsync(device, 2, 22, 50, baseTime.AddSeconds(50));
        await SendAsync(device, 3, 30, 60, baseTime.AddSeconds(65));
        await SendAsync(device, 4, 25, 55, baseTime.AddHours(1).AddSeconds(1));
        await SendAsync(device, 5, 18, 35, baseTime.AddDays(-3));
        var range = $"from={Uri.EscapeDataString(Iso(baseTime))}&to={Uri.EscapeDataString(Iso(baseTime.AddHours(2)))}";

        var raw = await GetJsonAsync(http, $"/api/devices/esp-hist/readings?{range}");
        Assert.Equal([1L, 2L, 3L, 4L], raw.EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()));
        Assert.Equal(["insertId", "deviceId", "seq", "bootId", "timestamp", "temperature", "humidity", "sensor_id", "location"], raw[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal("esp-hist", raw[0].GetProperty("deviceId").GetString());
        Assert.Equal(3, raw[0].GetProperty("bootId").GetInt64());
        Assert.Equal(Iso(baseTime.AddSeconds(5)), raw[0].GetProperty("timestamp").GetString());

        // limit keeps the newest rows of the range, still oldest first.
        var limited = await GetJsonAsync(http, $"/api/devices/esp-hist/readings?{range}&limit=2");
        Assert.Equal([3L, 4L], limited.EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()));

        var minutes = await GetJsonAsync(http, $"/api/devices/esp-hist/readings?{range}&resolution=1m");
        Assert.Equal(3, minutes.GetArrayLength());
        var m0 = minutes[0];
        Assert.Equal(["bucket", "count", "temperatureMin", "temperatureMax", "temperatureAvg", "humidityMin", "humidityMax", "humidityAvg"], m0.EnumerateObject().Select(p => p.Name));
        Assert.Equal(Iso(baseTime), m0.GetProperty("bucket").GetString());
        Assert.Equal(2, m0.GetProperty("count").GetInt64());
        Assert.Equal(20, m0.GetProperty("temperatureMin").GetDouble());
        Assert.Equal(22, m0.GetProperty("temperatureMax").GetDouble());
        Assert.Equal(21, m0.GetProperty("temperatureAvg").GetDouble());
        Assert.Equal(45, m0.GetProperty("humidityAvg").GetDouble());
        Assert.Equal(Iso(baseTime.AddMinutes(1)), minutes[1].GetProperty("bucket").GetString());

        var hours = await GetJsonAsync(http, $"/api/devices/esp-hist/readings?{range}&resolution=1h");
        Assert.Equal([3L, 1L], hours.EnumerateArray().Select(b => b.GetProperty("count").GetInt64()));
        Assert.Equal(24, hours[0].GetProperty("temperatureAvg").GetDouble());

        var csv = await http.GetAsync($"/api/devices/esp-hist/readings?{range}&format=csv");
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        var lines = (await csv.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("insertId,deviceId,seq,bootId,timestamp,temperature,humidity,sensor_id,location", lines[0]);
        Assert.Equal(5, lines.Length);
        Assert.EndsWith($",esp-hist,1,3,{Iso(baseTime.AddSeconds(5))},20,40,dht,bench", lines[1]);
        var rollupCsv = (await http.GetStringAsync($"/api/devices/esp-hist/readings?{range}&format=csv&resolution=1m")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("bucket,count,temperatureMin,temperatureMax,temperatureAvg,humidityMin,humidityMax,humidityAvg", rollupCsv[0]);
        Assert.Equal($"{Iso(baseTime)},2,20,22,21,40,50,45", rollupCsv[1]);

        // Defaults: the last 24 hours (none of these readings is that recent).
        Assert.Equal(0, (await GetJsonAsync(http, "/api/devices/esp-hist/readings")).GetArrayLength());
    }

    [Theory]
    [InlineData("resolution=5m", "'resolution' must be raw, 1m or 1h")]
    [InlineData("from=yesterday", "'from' must be an ISO-8601 time")]
    [InlineData("from=2026-11-21T00:00:00Z&to=2026-11-20T00:00:00Z", "is after 'to'")]
    [InlineData("limit=0", "'limit' must be a positive whole number")]
    [InlineData("limit=ten", "'limit' must be a positive whole number")]
    [InlineData("format=xml", "'format' must be json or csv")]
    public async Task Bad_history_parameters_get_400_with_a_clear_message(string query, string expected)
    {
        await using var gateway = await TestGateway.StartAsync(null, FastCommits);
        gateway.AddDevice("esp-q");
        var response = await gateway.Http(gateway.AddKey("viewer")).GetAsync($"/api/devices/esp-q/readings?{query}");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task History_survives_a_restart_on_the_same_data_directory()
    {
        var dir = TestGateway.NewDataDir();
        try
        {
            var at = DateTimeOffset.UtcNow.AddMinutes(-10);
            string key;
            long first;
            await using (var gateway = await TestGateway.StartAsync(dir, FastCommits))
            {
                var token = gateway.AddDevice("esp-restart");
                key = gateway.AddKey("viewer");
                await using var device = await gateway.ConnectDeviceAsync("esp-restart", token, 3);
                first = await SendAsync(device, 1, 20.5, 40, at);
                for (var i = 2; i <= 5; i++) await SendAsync(device, i, 20 + i, 40, at.AddSeconds(i));
            }
            await using (var gateway = await TestGateway.StartAsync(dir, FastCommits))
            {
                var http = gateway.Http(key);
                var raw = await GetJsonAsync(http, "/api/devices/esp-restart/readings");
                Assert.Equal([1L, 2L, 3L, 4L, 5L], raw.EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()));
                Assert.Equal(first, raw[0].GetProperty("insertId").GetInt64());
                var minutes = await GetJsonAsync(http, "/api/devices/esp-restart/readings?resolution=1m");
                Assert.Equal(5, minutes.EnumerateArray().Sum(b => b.GetProperty("count").GetInt64()));
                var list = await GetJsonAsync(http, "/api/devices");
                Assert.Equal(5 + first - 1, list[0].GetProperty("lastReading").GetProperty("insertId").GetInt64());
                // Insert ids go on where they stopped; the old keys still catch a replay.
                var token = gateway.Identities.RotateToken("esp-restart");
                await using var device = await gateway.ConnectDeviceAsync("esp-restart", token, 3);
                await device.SendAsync(new { type = "data", dataType = "sensor", seq = 2, bootId = 3, data = new { temperature = 22, humidity = 40 } });
                var dup = await device.ReceiveAsync("data_response");
                Assert.True(dup.GetProperty("duplicate").GetBoolean());
                Assert.Equal(first + 1, dup.GetProperty("insertId").GetInt64());
                Assert.True(await SendAsync(device, 6, 20, 40, at.AddSeconds(6)) > first + 4);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Rollups_equal_the_aggregates_of_the_raw_rows()
    {
        var dir = TestGateway.NewDataDir();
        try
        {
            // Short merge runs and flushes so the per-device tables and rollups are written while readings arrive, as under load.
            await using (var gateway = await TestGateway.StartAsync(dir, "Storage:CommitInterval=00:00:00.010", "Storage:IndexMergeRun=3",
                "Storage:RollupFlushInterval=00:00:00.050", "RateLimit:Burst=1000", "RateLimit:MessagesPerSecond=1000"))
            {
                var start = new DateTimeOffset(2026, 11, 19, 22, 50, 0, TimeSpan.Zero);
                var random = new Random(42);
                var devices = new List<TestClient>();
                try
                {
                    for (var d = 0; d < 3; d++) devices.Add(await gateway.ConnectDeviceAsync($"esp-roll-{d}", gateway.AddDevice($"esp-roll-{d}"), 3));
                    var sends = new List<Task>();
                    foreach (var device in devices)
                    {
                        var seed = random.Next();
                        sends.Add(Task.Run(async () =>
                        {
                            var r = new Random(seed);
                            // A window of 40 unacknowledged readings spread over 2.5 hours (crossing hour and day boundaries).
                            for (var seq = 1; seq <= 200; seq++)
                            {
                                var at = start.AddSeconds(r.Next(0, 9000)).AddMilliseconds(r.Next(0, 1000));
                                await device.SendAsync(new { type = "data", dataType = "sensor", seq, bootId = 3, timestamp = Iso(at), data = new { temperature = Math.Round(r.NextDouble() * 60 - 20, 2), humidity = Math.Round(r.NextDouble() * 100, 1) } });
                                if (seq > 40) await device.ReceiveAsync("data_response");
                            }
                            for (var i = 0; i < 40; i++) await device.ReceiveAsync("data_response");
                        }));
                    }
                    await Task.WhenAll(sends);
                }
                finally
                {
                    foreach (var d in devices) await d.DisposeAsync();
                }
                Assert.Equal(600, ReadingsDb.ReadingCount(dir));
                // While running: written rollups plus the unflushed tail equal the raw aggregates, and so does the API.
                Assert.True(ReadingsDb.AssertRollupsMatchRaw(dir) > 100);
                var http = gateway.Http(gateway.AddKey("viewer"));
                var range = $"from={Uri.EscapeDataString(Iso(start))}&to={Uri.EscapeDataString(Iso(start.AddHours(3)))}";
                var api = await GetJsonAsync(http, $"/api/devices/esp-roll-1/readings?{range}&resolution=1m");
                var raw = ReadingsDb.Rows(dir, """
                    SELECT ts - ts % 60000, count(*), min(temperature), max(temperature), avg(temperature), min(humidity), max(humidity), avg(humidity)
                    FROM readings WHERE device_id = 'esp-roll-1' GROUP BY 1 ORDER BY 1
                    """);
                Assert.Equal(raw.Count, api.GetArrayLength());
                for (var i = 0; i < raw.Count; i++)
                {
                    var b = api[i];
                    Assert.Equal(Iso(DateTimeOffset.FromUnixTimeMilliseconds((long)raw[i][0]!)), b.GetProperty("bucket").GetString());
                    Assert.Equal((long)raw[i][1]!, b.GetProperty("count").GetInt64());
                    Assert.Equal((double)raw[i][2]!, b.GetProperty("temperatureMin").GetDouble());
                    Assert.Equal((double)raw[i][3]!, b.GetProperty("temperatureMax").GetDouble());
                    Assert.Equal((double)raw[i][4]!, b.GetProperty("temperatureAvg").GetDouble(), 9);
                    Assert.Equal((double)raw[i][7]!, b.GetProperty("humidityAvg").GetDouble(), 9);
                }
                // Every reading is findable through the per-device index or the heap's tail: the API sees all 200 of a device.
                var all = await GetJsonAsync(http, $"/api/devices/esp-roll-1/readings?{range}");
                Assert.Equal(200, all.GetArrayLength());
                Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), all.EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()).Order());
            }
            // After a graceful stop everything is written: the tables alone equal the raw aggregates.
            Assert.True(ReadingsDb.AssertRollupsMatchRaw(dir, requireFlushed: true) > 100);
            Assert.Equal(600, ReadingsDb.Scalar(dir, "SELECT count(*) FROM reading_index"));
            Assert.Equal(600, ReadingsDb.Scalar(dir, "SELECT count(*) FROM reading_keys"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Retention_deletes_only_what_expired()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Storage:CommitInterval=00:00:00.010", "Storage:RawRetention=10.00:00:00", "Storage:MinuteRetention=20.00:00:00", "Storage:HourRetention=40.00:00:00", "Storage:IndexMergeRun=1", "Storage:RollupFlushInterval=00:00:00.001");
        var token = gateway.AddDevice("esp-ret");
        await using var device = await gateway.ConnectDeviceAsync("esp-ret", token, 3);
        var now = DateTimeOffset.UtcNow;
        var ages = new[] { 50, 30, 15, 9, 1 }; // days
        for (var i = 0; i < ages.Length; i++) await SendAsync(device, i + 1, 20, 40, now.AddDays(-ages[i]));
        await device.SendAsync(new { type = "data", dataType = "application", data = new { note = "old" }, timestamp = Iso(now.AddDays(-11)) });
        await device.SendAsync(new { type = "data", dataType = "application", data = new { note = "new" }, timestamp = Iso(now.AddDays(-1)) });
        await device.ReceiveAsync("data_response", where: m => !m.TryGetProperty("seq", out _));
        await device.ReceiveAsync("data_response", where: m => !m.TryGetProperty("seq", out _));

        var result = await gateway.Service<ReadingRetention>().SweepAsync(CancellationToken.None);

        Assert.Equal(3, result.Readings);
        Assert.Equal(1, result.Events);
        Assert.Equal(2, result.MinuteRollups); // 50 and 30 days
        Assert.Equal(1, result.HourRollups);   // 50 days
        Assert.Equal([4L, 5L], ReadingsDb.Rows(gateway.DataDir, "SELECT seq FROM readings ORDER BY seq").Select(r => (long)r[0]!));
        Assert.Equal(2, ReadingsDb.Scalar(gateway.DataDir, "SELECT count(*) FROM reading_index"));
        Assert.Equal(2, ReadingsDb.Scalar(gateway.DataDir, "SELECT count(*) FROM reading_keys"));
        Assert.Equal(3, ReadingsDb.Scalar(gateway.DataDir, "SELECT count(*) FROM rollup_1m"));
        Assert.Equal(4, ReadingsDb.Scalar(gateway.DataDir, "SELECT count(*) FROM rollup_1h"));
        Assert.Equal("""{"note":"new"}""", Assert.Single(ReadingsDb.Rows(gateway.DataDir, "SELECT data FROM events"))[0]);
        // A second sweep finds nothing more.
        Assert.Equal(new RetentionResult(0, 0, 0, 0), await gateway.Service<ReadingRetention>().SweepAsync(CancellationToken.None));
    }

    [Fact]
    public async Task The_retention_service_sweeps_on_its_interval_and_insert_ids_are_never_reused()
    {
        var dir = TestGateway.NewDataDir();
        try
        {
            long lastId;
            await using (var gateway = await TestGateway.StartAsync(dir, FastCommits))
            {
                var token = gateway.AddDevice("esp-sweep");
                await using var device = await gateway.ConnectDeviceAsync("esp-sweep", token, 3);
                await SendAsync(device, 1, 20, 40, new DateTimeOffset(2021, 1, 1, 0, 0, 0, TimeSpan.Zero));
                lastId = await SendAsync(device, 2, 20, 40, new DateTimeOffset(2021, 1, 1, 0, 0, 1, TimeSpan.Zero));
            }
            await using (var gateway = await TestGateway.StartAsync(dir, "Storage:CommitInterval=00:00:00.020", "Storage:RetentionSweepInterval=00:00:00.200"))
            {
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (ReadingsDb.ReadingCount(dir) > 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
                Assert.Equal(0, ReadingsDb.ReadingCount(dir));
                var token = gateway.Identities.RotateToken("esp-sweep");
                await using var device = await gateway.ConnectDeviceAsync("esp-sweep", token, 4);
                Assert.Equal(lastId + 1, await SendAsync(device, 1, 20, 40, DateTimeOffset.UtcNow));
            }
            await using (var gateway = await TestGateway.StartAsync(dir, FastCommits))
            {
                // Even after everything expired and a restart, ids continue.
                var token = gateway.Identities.RotateToken("esp-sweep");
                await using var device = await gateway.ConnectDeviceAsync("esp-sweep", token, 5);
                Assert.Equal(lastId + 2, await SendAsync(device, 7, 20, 40, DateTimeOffset.UtcNow));
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Fields_to_encrypt_are_not_in_the_file_in_plain_text_and_the_api_decrypts_them()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Storage:CommitInterval=00:00:00.020", "FieldsToEncrypt:0=location", "FieldsToEncrypt:1=owner");
        var token = gateway.AddDevice("esp-enc");
        await using var device = await gateway.ConnectDeviceAsync("esp-enc", token, 3);
        await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 3, data = new { temperature = 20, humidity = 40, location = "attic-of-Mrs-Hudson", owner = "Sherlock Holmes", sensor_id = "dht-7" } });
        var ack = await device.ReceiveAsync("data_response");
        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        await device.SendAsync(new { type = "data", dataType = "application", data = new { owner = "Sherlock Holmes", note = "visible" } });
        await device.ReceiveAsync("data_response", where: m => !m.TryGetProperty("seq", out _));

        var row = Assert.Single(ReadingsDb.Rows(gateway.DataDir, "SELECT location, extra, sensor_id FROM readings"));
        Assert.DoesNotContain("attic", (string)row[0]!);
        Assert.StartsWith("enc:v1:", (string)row[0]!);
        Assert.DoesNotContain("Sherlock", (string)row[1]!);
        Assert.Equal("dht-7", row[2]); // not listed: stored as sent
        var evt = (string)Assert.Single(ReadingsDb.Rows(gateway.DataDir, "SELECT data FROM events"))[0]!;
        Assert.DoesNotContain("Sherlock", evt);
        Assert.Contains("visible", evt);
        // Nowhere in the database or its WAL.
        foreach (var file in Directory.GetFiles(gateway.DataDir, "iotws.db*"))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes("Sherlock")));
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes("attic-of")));
        }
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(gateway.DataDir, "keys")));

        var raw = await GetJsonAsync(gateway.Http(gateway.AddKey("viewer")), "/api/devices/esp-enc/readings");
        Assert.Equal("attic-of-Mrs-Hudson", raw[0].GetProperty("location").GetString());
    }

    [Fact]
    public async Task A_gateway_that_encrypts_no_field_makes_no_key_and_loads_no_key_ring()
    {
        // ASP.NET Core's data protection loads (and on a new install, makes) its key ring at start; a gateway that
        // encrypts nothing has no use for a key, and loading the XML stack for it costs a few MB on a Pi.
        await using var gateway = await TestGateway.StartAsync(null, FastCommits);
        var token = gateway.AddDevice("esp-plain");
        await using var device = await gateway.ConnectDeviceAsync("esp-plain", token, 3);
        await SendAsync(device, 1, 20, 40, DateTimeOffset.UtcNow);
        var keys = Path.Combine(gateway.DataDir, "keys");
        Assert.True(!Directory.Exists(keys) || Directory.GetFiles(keys).Length == 0, string.Join(", ", Directory.Exists(keys) ? Directory.GetFiles(keys) : []));
    }

    [Fact]
    public async Task Get_readings_and_get_devices_answer_over_the_websocket_with_role_rules()
    {
        await using var gateway = await TestGateway.StartAsync(null, FastCommits);
        var token = gateway.AddDevice("esp-ws");
        gateway.AddDevice("esp-other");
        await using var device = await gateway.ConnectDeviceAsync("esp-ws", token, 3);
        var at = DateTimeOffset.UtcNow.AddMinutes(-5);
        await SendAsync(device, 1, 20, 40, at);
        await SendAsync(device, 2, 21, 41, at.AddMinutes(1));

        await using var viewer = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await viewer.SendAsync(new { type = "request", requestId = "r1", endpoint = "get_readings", data = new { deviceId = "esp-ws", from = Iso(at.AddMinutes(-1)), to = Iso(DateTimeOffset.UtcNow), limit = 10 } });
        var r1 = await viewer.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == "r1");
        Assert.True(r1.GetProperty("success").GetBoolean(), r1.ToString());
        Assert.Equal([1L, 2L], r1.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()));
        await viewer.SendAsync(new { type = "request", requestId = "r2", endpoint = "get_readings", data = new { deviceId = "esp-ws", resolution = "1m" } });
        var r2 = await viewer.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == "r2");
        Assert.Equal(2, r2.GetProperty("data").GetArrayLength());
        await viewer.SendAsync(new { type = "request", requestId = "r3", endpoint = "get_devices", data = new { } });
        var r3 = await viewer.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == "r3");
        Assert.Equal(2, r3.GetProperty("data").GetArrayLength());
        await viewer.SendAsync(new { type = "request", requestId = "r4", endpoint = "get_readings", data = new { deviceId = "esp-ws", resolution = "week" } });
        var r4 = await viewer.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == "r4");
        Assert.False(r4.GetProperty("success").GetBoolean());
        Assert.Contains("resolution", r4.GetProperty("error").GetString());

        // A device reads its own readings only and may not list the fleet.
        await device.SendAsync(new { type = "request", requestId = "d1", endpoint = "get_readings", data = new { } });
        var d1 = await device.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == "d1");
        Assert.Equal(2, d1.GetProperty("data").GetArrayLength());
        await device.SendAsync(new { type = "request", requestId = "d2", endpoint = "get_readings", data = new { deviceId = "esp-other" } });
        var d2 = await device.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == "d2");
        Assert.False(d2.GetProperty("success").GetBoolean());
        Assert.Equal("forbidden", d2.GetProperty("code").GetString());
        await device.SendAsync(new { type = "request", requestId = "d3", endpoint = "get_devices" });
        var d3 = await device.ReceiveAsync("response", where: m => m.GetProperty("requestId").GetString() == "d3");
        Assert.Equal("forbidden", d3.GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_device_on_its_own_clock_faster_than_the_interval_is_gathered_not_committed_reading_by_reading()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Storage:CommitInterval=00:00:10");
        var token = gateway.AddDevice("esp-fast");
        await using var device = await gateway.ConnectDeviceAsync("esp-fast", token, 1);
        // After a quiet spell the first reading is committed at once.
        await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 1, data = new { temperature = 20, humidity = 40 } });
        Assert.True((await device.ReceiveAsync("data_response")).GetProperty("success").GetBoolean());
        // The next comes on the device's schedule, well after the ack (not in answer to it): it waits for the interval.
        await Task.Delay(ReadingWriter.FollowWindow * 4);
        await device.SendAsync(new { type = "data", dataType = "sensor", seq = 2, bootId = 1, data = new { temperature = 20, humidity = 40 } });
        await Task.Delay(TimeSpan.FromSeconds(1));
        var stats = gateway.Service<ReadingWriter>().Stats;
        Assert.Equal(1, stats.Stored);
        Assert.Equal(1, stats.Queued);
    }

    [Fact]
    public async Task A_full_queue_holds_the_sender_back_and_loses_nothing_and_shutdown_commits_what_was_queued()
    {
        var dir = TestGateway.NewDataDir();
        try
        {
            await using (var gateway = await TestGateway.StartAsync(dir, "Storage:QueueCapacity=2", "Storage:CommitBatchSize=1", "Storage:CommitInterval=00:00:00.005"))
            {
                var token = gateway.AddDevice("esp-bp");
                await using var device = await gateway.ConnectDeviceAsync("esp-bp", token, 3);
                for (var i = 1; i <= 40; i++)
                {
                    await device.SendAsync(new { type = "data", dataType = "sensor", seq = i, bootId = 3, data = new { temperature = 20, humidity = 40 } });
                }
                for (var i = 1; i <= 40; i++)
                {
                    Assert.Equal(i, (await device.ReceiveAsync("data_response")).GetProperty("seq").GetInt64());
                }
                Assert.Equal(40, ReadingsDb.ReadingCount(dir));
                var status = await GetJsonAsync(gateway.Http(gateway.AddKey("viewer")), "/api/status");
                Assert.Equal(40, status.GetProperty("readings").GetProperty("total").GetInt64());
            }
            // Readings still queued when the gateway stops are committed before it exits.
            await using (var gateway = await TestGateway.StartAsync(dir, "Storage:CommitInterval=00:00:10"))
            {
                var token = gateway.Identities.RotateToken("esp-bp");
                var otherToken = gateway.AddDevice("esp-bp2");
                await using var device = await gateway.ConnectDeviceAsync("esp-bp", token, 4);
                await using var other = await gateway.ConnectDeviceAsync("esp-bp2", otherToken, 1);
                // After a quiet spell a reading is committed at once; the next ones wait for the interval (10 s here)
                // when they do not follow an ack of their own connection (those would be committed at once).
                await other.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 1, data = new { temperature = 20, humidity = 40 } });
                Assert.True((await other.ReceiveAsync("data_response")).GetProperty("success").GetBoolean());
                for (var i = 2; i <= 6; i++)
                {
                    await device.SendAsync(new { type = "data", dataType = "sensor", seq = i, bootId = 4, data = new { temperature = 20, humidity = 40 } });
                }
                var writer = gateway.Service<ReadingWriter>();
                var deadline = DateTime.UtcNow.AddSeconds(5);
                while (writer.Stats.Queued < 5 && DateTime.UtcNow < deadline) await Task.Delay(10);
                Assert.Equal(5, writer.Stats.Queued);
                Assert.Equal(41, ReadingsDb.ReadingCount(dir));
            }
            Assert.Equal(46, ReadingsDb.ReadingCount(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
