using System.Text.Json;
using IotWs.Gateway.Devices;
using IotWs.Protocol;
using IotWs.Gateway.LocalSensors;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.PubSub;
using IotWs.Gateway.Tests.Readings;

namespace IotWs.Gateway.Tests.LocalSensors;

/// <summary>
/// A DHT22 on the Pi, end to end through a real gateway on Kestrel: the sensor is a hardware fake (scripted reads, a fake
/// GpioDriver under the real Dht22 binding, or a fake sysfs folder), everything after it is the gateway's own path.
/// </summary>
public sealed class LocalSensorGatewayTests
{
    private static readonly string[] Hall = LocalSensorRig.Sensor(0, "pi-hall", "GpioPin=4", "Location=hall", "HeartbeatInterval=00:00:05");

    [Fact]
    public async Task A_local_reading_is_registered_stored_in_SQLite_published_to_a_WebSocket_subscriber_and_the_device_is_online()
    {
        ScriptedDht? hardware = null;
        await using var rig = await LocalSensorRig.StartAsync(null, null,
            s => s.AddSingleton<ILocalSensorHardware>(sp => hardware = new ScriptedDht(sp.GetRequiredService<TimeProvider>())), Hall);

        // Auto-registered at start, as a device like any other.
        var record = rig.Gateway.Identities.FindDevice("pi-hall");
        Assert.NotNull(record);
        Assert.Equal("Pi DHT22 on GPIO 4", record.Name);
        Assert.Equal("hall", record.Location);
        Assert.Equal(4, Assert.Single(hardware!.Opened).GpioPin);

        var presence = rig.Gateway.Service<IDevicePresence>();
        await LocalSensorRig.Until(() => presence.Get("pi-hall").Status == PresenceStates.Online, "pi-hall online");
        Assert.Equal(1, presence.Get("pi-hall").BootId);

        await using var watcher = await rig.Gateway.ConnectWithKeyAsync(rig.Gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "sensor_updates");

        // The first reading is one reading interval (10 s) after start.
        await rig.AdvanceAsync(TimeSpan.FromSeconds(9.5));
        Assert.Empty(hardware.Reads);
        await rig.AdvanceAsync(TimeSpan.FromSeconds(0.5));
        var publish = await watcher.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "sensor_updates");
        var data = publish.GetProperty("data");
        Assert.Equal("pi-hall", data.GetProperty("deviceId").GetString());
        Assert.Equal(21.3, data.GetProperty("temperature").GetDouble());
        Assert.Equal(45.3, data.GetProperty("humidity").GetDouble());
        Assert.Equal("hall", data.GetProperty("location").GetString());
        Assert.Equal("pi-hall_DHT22", data.GetProperty("sensor_id").GetString());
        Assert.Equal("2026-12-02T12:00:10.000Z", data.GetProperty("timestamp").GetString());

        var row = Assert.Single(ReadingsDb.Rows(rig.DataDir, "SELECT boot_id, seq, temperature, humidity, location FROM readings WHERE device_id = 'pi-hall'"));
        Assert.Equal(new object?[] { 1L, 1L, 21.3, 45.3, "hall" }, row);
        Assert.Equal(data.GetProperty("insertId").GetInt64(), ReadingsDb.Scalar(rig.DataDir, "SELECT id FROM readings WHERE device_id = 'pi-hall'"));

        // The REST API knows it as a device with a latest reading.
        var device = await rig.GetJsonAsync("/api/devices/pi-hall");
        Assert.Contains("21.3", device.ToString());

        var status = await rig.GetJsonAsync("/api/status");
        var local = Assert.Single(status.GetProperty("localSensors").EnumerateArray().ToArray());
        Assert.Equal("pi-hall", local.GetProperty("deviceId").GetString());
        Assert.Equal("gpio", local.GetProperty("driver").GetString());
        Assert.Equal(4, local.GetProperty("gpioPin").GetInt32());
        Assert.Equal("Running", local.GetProperty("connection").GetString());
        Assert.Equal(1, local.GetProperty("reads").GetInt64());
        Assert.Equal(0, local.GetProperty("failedReads").GetInt64());
    }

    [Fact]
    public async Task Failed_reads_are_retried_every_2_s_counted_in_sensorErrors_and_sensor_health_and_the_interval_grid_is_kept()
    {
        ScriptedDht? hardware = null;
        await using var rig = await LocalSensorRig.StartAsync(null, null,
            s => s.AddSingleton<ILocalSensorHardware>(sp => hardware = new ScriptedDht(sp.GetRequiredService<TimeProvider>())
            {
                // Reads 0 and 1 fail (no answer), then the sensor works; reads 4 and 5 fail again, past the retries (2).
                Works = n => n is not (0 or 1 or 4 or 5 or 6),
            }),
            [.. Hall, "LocalSensors:0:Retries=2", "LocalSensors:0:RetryDelay=00:00:02"]);
        var presence = rig.Gateway.Service<IDevicePresence>();
        await LocalSensorRig.Until(() => presence.Get("pi-hall").Status == PresenceStates.Online, "pi-hall online");

        await rig.AdvanceAsync(TimeSpan.FromSeconds(31));
        var seconds = hardware!.Reads.Select(r => (r - LocalSensorRig.Start).TotalSeconds).ToArray();
        // 10 s fails, 12 s fails, 14 s works; 20 s works; 30 s fails, 32 s would be the first retry.
        Assert.Equal(new double[] { 10, 12, 14, 20, 30 }, seconds);
        await rig.AdvanceAsync(TimeSpan.FromSeconds(10));
        seconds = hardware.Reads.Select(r => (r - LocalSensorRig.Start).TotalSeconds).ToArray();
        // 30 s, 32 s and 34 s fail (two retries, then the reading is given up); 40 s works.
        Assert.Equal(new double[] { 10, 12, 14, 20, 30, 32, 34, 40 }, seconds);
        Assert.All(seconds.Zip(seconds.Skip(1)), p => Assert.True(p.Second - p.First >= 2, $"{p.First} s → {p.Second} s"));

        // Two readings stored (14 s, 20 s) and the one at 40 s; every failed read is a sensor error, as a board reports it.
        await LocalSensorRig.Until(() => ReadingsDb.Scalar(rig.DataDir, "SELECT count(*) FROM readings WHERE device_id = 'pi-hall'") == 3, "3 readings");
        Assert.Equal(new object?[] { 1L, 2L, 3L }, ReadingsDb.Rows(rig.DataDir, "SELECT seq FROM readings WHERE device_id = 'pi-hall' ORDER BY seq").Select(r => r[0]));
        await rig.AdvanceAsync(TimeSpan.FromSeconds(5));
        await LocalSensorRig.Until(() => presence.Get("pi-hall").LastHeartbeat?["sensorErrors"]?.GetValue<long>() == 5, "a heartbeat with sensorErrors 5");
        Assert.Null(presence.Get("pi-hall").LastHeartbeat!["rssi"]);

        var health = await rig.GetJsonAsync("/api/alerts/sensors");
        var mine = health.GetProperty("devices").EnumerateArray().Single(d => d.GetProperty("deviceId").GetString() == "pi-hall");
        Assert.Equal(5, mine.GetProperty("failedReads").GetInt64());
        Assert.True(mine.GetProperty("flagged").GetBoolean(), mine.ToString());

        var local = (await rig.GetJsonAsync("/api/status")).GetProperty("localSensors")[0];
        Assert.Equal(8, local.GetProperty("reads").GetInt64());
        Assert.Equal(5, local.GetProperty("failedReads").GetInt64());
        Assert.Equal("2026-12-02T12:00:40.000Z", local.GetProperty("lastGoodReadAt").GetString());
    }

    [Fact]
    public async Task Restarts_move_to_a_new_boot_so_new_readings_are_never_taken_for_duplicates_even_when_the_state_file_is_lost()
    {
        var dataDir = TestGateway.NewDataDir();
        try
        {
            await using (var first = await LocalSensorRig.StartAsync(dataDir, null, s => s.AddSingleton<ILocalSensorHardware>(sp => new ScriptedDht(sp.GetRequiredService<TimeProvider>())), Hall))
            {
                await first.AdvanceUntilAsync(() => ReadingsDb.ReadingCount(dataDir) == 2, TimeSpan.FromSeconds(30), "two readings");
            }
            var state = Path.Combine(dataDir, "localsensors", "pi-hall.json");
            Assert.Contains("\"bootId\":\"1\"", File.ReadAllText(state).Replace(" ", "", StringComparison.Ordinal));

            await using (var second = await LocalSensorRig.StartAsync(dataDir, new(LocalSensorRig.Start.AddMinutes(5)), s => s.AddSingleton<ILocalSensorHardware>(sp => new ScriptedDht(sp.GetRequiredService<TimeProvider>())), Hall))
            {
                await second.AdvanceUntilAsync(() => ReadingsDb.ReadingCount(dataDir) == 3, TimeSpan.FromSeconds(30), "a reading of the second start");
                Assert.Equal(2, second.Board("pi-hall").Core.BootId);
            }

            // Lost state file (seq and boot would start at 1 again): the gateway's lastBootId moves the boot above the stored ones.
            File.Delete(Path.Combine(dataDir, "localsensors", "pi-hall.json"));
            await using (var third = await LocalSensorRig.StartAsync(dataDir, new(LocalSensorRig.Start.AddMinutes(10)), s => s.AddSingleton<ILocalSensorHardware>(sp => new ScriptedDht(sp.GetRequiredService<TimeProvider>())), Hall))
            {
                await third.AdvanceUntilAsync(() => ReadingsDb.ReadingCount(dataDir) == 4, TimeSpan.FromSeconds(30), "a reading after the state file was lost");
                Assert.Equal(3, third.Board("pi-hall").Core.BootId);
                var status = await third.GetJsonAsync("/api/status");
                Assert.Equal(0, status.GetProperty("readings").GetProperty("duplicates").GetInt64());
            }
            var keys = ReadingsDb.Rows(dataDir, "SELECT boot_id, seq FROM readings ORDER BY id").Select(r => $"{r[0]}/{r[1]}").ToArray();
            Assert.Equal(["1/1", "1/2", "2/1", "3/1"], keys);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Revoking_the_device_takes_the_local_sensor_offline_and_a_later_start_does_not_register_it_again()
    {
        var dataDir = TestGateway.NewDataDir();
        try
        {
            await using (var rig = await LocalSensorRig.StartAsync(dataDir, null, s => s.AddSingleton<ILocalSensorHardware>(sp => new ScriptedDht(sp.GetRequiredService<TimeProvider>())), Hall))
            {
                var presence = rig.Gateway.Service<IDevicePresence>();
                await LocalSensorRig.Until(() => presence.Get("pi-hall").Status == PresenceStates.Online, "pi-hall online");
                await using var watcher = await rig.Gateway.ConnectWithKeyAsync(rig.Gateway.AddKey("viewer"));
                await PubSubTests.Subscribe(watcher, "device_status");

                rig.Gateway.Identities.RevokeDevice("pi-hall");
                await rig.AdvanceUntilAsync(() => presence.Get("pi-hall").Status == PresenceStates.Offline, TimeSpan.FromSeconds(30), "pi-hall offline");
                var message = await watcher.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "device_status");
                Assert.Equal("offline", message.GetProperty("data").GetProperty("status").GetString());
                Assert.Equal("pi-hall", message.GetProperty("data").GetProperty("deviceId").GetString());
            }
            await using (var again = await LocalSensorRig.StartAsync(dataDir, null, s => s.AddSingleton<ILocalSensorHardware>(sp => new ScriptedDht(sp.GetRequiredService<TimeProvider>())), Hall))
            {
                Assert.True(again.Gateway.Identities.FindDevice("pi-hall")!.Revoked);
                Assert.Empty(again.Gateway.Service<LocalSensorService>().Boards);
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Readings_not_acknowledged_at_a_stop_are_kept_in_the_state_file_and_stored_once_after_the_next_start()
    {
        var dataDir = TestGateway.NewDataDir();
        try
        {
            int buffered;
            await using (var rig = await LocalSensorRig.StartAsync(dataDir, null, s => s.AddSingleton<ILocalSensorHardware>(sp => new ScriptedDht(sp.GetRequiredService<TimeProvider>())), Hall))
            {
                var presence = rig.Gateway.Service<IDevicePresence>();
                await LocalSensorRig.Until(() => presence.Get("pi-hall").Status == PresenceStates.Online, "pi-hall online");
                // Cut the sensor off the gateway (revoked: its link is closed and auth fails), so readings pile up unacknowledged.
                rig.Gateway.Identities.RevokeDevice("pi-hall");
                await rig.AdvanceUntilAsync(() => presence.Get("pi-hall").Status == PresenceStates.Offline, TimeSpan.FromSeconds(30), "pi-hall offline");
                var board = rig.Board("pi-hall");
                await rig.AdvanceUntilAsync(() => board.Core.Buffered >= 2, TimeSpan.FromSeconds(60), "two buffered readings");
                buffered = board.Core.Buffered;
                // Let the next start register it again (rotate-token lifts the revocation).
                rig.Gateway.Identities.RotateToken("pi-hall");
            }
            var state = File.ReadAllText(Path.Combine(dataDir, "localsensors", "pi-hall.json"));
            Assert.Contains("\"spill\"", state);
            var before = ReadingsDb.ReadingCount(dataDir);

            await using (var rig = await LocalSensorRig.StartAsync(dataDir, new(LocalSensorRig.Start.AddMinutes(5)), s => s.AddSingleton<ILocalSensorHardware>(sp => new ScriptedDht(sp.GetRequiredService<TimeProvider>())), Hall))
            {
                await LocalSensorRig.Until(() => ReadingsDb.ReadingCount(dataDir) == before + buffered, "the spilled readings stored");
                Assert.Equal(2, rig.Board("pi-hall").Core.BootId);
            }
            var keys = ReadingsDb.Rows(dataDir, "SELECT boot_id, seq FROM readings ORDER BY boot_id, seq").Select(r => ((long)r[0]!, (long)r[1]!)).ToArray();
            Assert.Equal(keys.Distinct().Count(), keys.Length);
            Assert.All(keys, k => Assert.Equal(1, k.Item1));
            Assert.Equal(Enumerable.Range(1, keys.Length).Select(i => (long)i), keys.Select(k => k.Item2));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Rpc_reaches_a_local_sensor_and_reboot_starts_a_new_boot_with_the_pin_opened_again()
    {
        ScriptedDht? hardware = null;
        await using var rig = await LocalSensorRig.StartAsync(null, null,
            s => s.AddSingleton<ILocalSensorHardware>(sp => hardware = new ScriptedDht(sp.GetRequiredService<TimeProvider>()) { Works = n => n != 0 }), Hall);
        var presence = rig.Gateway.Service<IDevicePresence>();
        await LocalSensorRig.Until(() => presence.Get("pi-hall").Status == PresenceStates.Online, "pi-hall online");
        await rig.AdvanceAsync(TimeSpan.FromSeconds(12));
        using var http = rig.Gateway.Http(rig.Gateway.AddKey("technician"));

        var (status, body, _) = await Rpc.RpcSteps.PostAsync(http, "pi-hall", new { endpoint = "get_sensor_status" });
        Assert.Equal(200, status);
        Assert.Equal("succeeded", body.GetProperty("status").GetString());
        Assert.Contains("21.3", body.GetProperty("result").ToString());

        (status, body, _) = await Rpc.RpcSteps.PostAsync(http, "pi-hall", new { endpoint = "reboot" });
        Assert.Equal(200, status);
        var board = rig.Board("pi-hall");
        await rig.AdvanceUntilAsync(() => board.Core.BootId == 2 && board.Core.IsRunning, TimeSpan.FromSeconds(30), "boot 2 running");
        await rig.AdvanceUntilAsync(() => ReadingsDb.Scalar(rig.DataDir, "SELECT count(*) FROM readings WHERE boot_id = 2") == 1, TimeSpan.FromSeconds(30), "a reading of boot 2");
        await LocalSensorRig.Until(() => presence.Get("pi-hall").BootId == 2, "presence sees boot 2");
        // The reboot released the sensor (for the gpio driver: closed the pin, opened again at the next read).
        Assert.Equal(1, hardware!.Releases);
    }

    [Fact]
    public async Task A_reading_of_a_local_sensor_raises_an_alert_like_a_boards()
    {
        await using var rig = await LocalSensorRig.StartAsync(null, null,
            s => s.AddSingleton<ILocalSensorHardware>(sp => new ScriptedDht(sp.GetRequiredService<TimeProvider>()) { Temperature = 31.2 }),
            [.. Hall, "Alerts:Rules:0:Name=hot", "Alerts:Rules:0:Metric=temperature", "Alerts:Rules:0:Comparison=above", "Alerts:Rules:0:Threshold=30", "Alerts:Rules:0:Duration=00:00:00"]);
        await rig.AdvanceUntilAsync(() => ReadingsDb.ReadingCount(rig.DataDir) == 1, TimeSpan.FromSeconds(20), "a reading");
        JsonElement alerts = default;
        await LocalSensorRig.Until(() =>
        {
            alerts = rig.GetJsonAsync("/api/alerts?deviceId=pi-hall").GetAwaiter().GetResult();
            return alerts.GetArrayLength() > 0;
        }, "an alert for pi-hall");
        Assert.Contains("hot", alerts[0].ToString());
        Assert.Contains("active", alerts[0].ToString());
    }

    [Fact]
    public async Task The_iio_driver_reads_the_kernel_drivers_files_and_counts_a_failing_read()
    {
        var iio = Path.Combine(Path.GetTempPath(), "iotws-iio-" + Guid.NewGuid().ToString("N")[..10], "iio:device0");
        Directory.CreateDirectory(iio);
        try
        {
            File.WriteAllText(Path.Combine(iio, "in_temp_input"), "19800\n");
            File.WriteAllText(Path.Combine(iio, "in_humidityrelative_input"), "51300\n");
            await using var rig = await LocalSensorRig.StartAsync(null, null, null,
                LocalSensorRig.Sensor(0, "pi-attic", "Driver=iio", "GpioPin=17", $"IioDevice={iio}", "Retries=0"));
            Assert.Equal("Pi DHT22 on GPIO 17 (kernel driver)", rig.Gateway.Identities.FindDevice("pi-attic")!.Name);
            await rig.AdvanceUntilAsync(() => ReadingsDb.ReadingCount(rig.DataDir) == 1, TimeSpan.FromSeconds(20), "a reading");
            var row = Assert.Single(ReadingsDb.Rows(rig.DataDir, "SELECT device_id, temperature, humidity FROM readings"));
            Assert.Equal(new object?[] { "pi-attic", 19.8, 51.3 }, row);

            // What the kernel gives for a bad frame is an I/O error; a vanished file is the nearest a test can make.
            File.Delete(Path.Combine(iio, "in_temp_input"));
            await rig.AdvanceAsync(TimeSpan.FromSeconds(10));
            var local = (await rig.GetJsonAsync("/api/status")).GetProperty("localSensors")[0];
            Assert.Equal("iio", local.GetProperty("driver").GetString());
            Assert.Equal(iio, local.GetProperty("iioDevice").GetString());
            Assert.Equal(1, local.GetProperty("failedReads").GetInt64());
            Assert.StartsWith(Path.Combine(iio, "in_temp_input"), local.GetProperty("lastError").GetString());
            Assert.Equal(1, ReadingsDb.ReadingCount(rig.DataDir));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(iio)!, recursive: true);
        }
    }

    [Fact]
    public async Task The_gpio_driver_runs_the_Dht22_binding_on_System_Device_Gpio_and_its_reading_reaches_a_subscriber()
    {
        var driver = new FakeDht22Driver();
        await using var rig = await LocalSensorRig.StartAsync(null, null,
            s => s.AddSingleton<GpioControllerFactory>(new FakeGpioControllers(driver)),
            // Retries absorb a frame spoilt by a pause of the test machine (see FakeDht22Driver).
            [.. LocalSensorRig.Sensor(0, "pi-cellar", "GpioPin=22", "Retries=5"), "HeartbeatInterval=00:00:30"]);
        await using var watcher = await rig.Gateway.ConnectWithKeyAsync(rig.Gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "devices/pi-cellar/readings");
        for (var i = 0; i < 10; i++) driver.Answers.Enqueue(FakeDht22Driver.Frame(61.7, 8.4));

        await rig.AdvanceUntilAsync(() => ReadingsDb.ReadingCount(rig.DataDir) == 1, TimeSpan.FromSeconds(30), "a reading");
        var publish = await watcher.ReceiveAsync("publish", where: m => m.GetProperty("topic").GetString() == "devices/pi-cellar/readings");
        Assert.Equal(8.4, publish.GetProperty("data").GetProperty("temperature").GetDouble());
        Assert.Equal(61.7, publish.GetProperty("data").GetProperty("humidity").GetDouble());
        Assert.True(driver.Starts >= 1);
    }

    [Theory]
    [InlineData("Driver=spi", "Gateway:LocalSensors:0:Driver must be gpio (Iot.Device.DHTxx.Dht22) or iio (the kernel's dht11 driver), not 'spi'.")]
    [InlineData("GpioPin=40", "Gateway:LocalSensors:0:GpioPin 40 is not a GPIO of the Pi's header: use the BCM number 0-27 (GPIO 4 is physical pin 7).")]
    [InlineData("RetryDelay=00:00:01", "Gateway:LocalSensors:0:RetryDelay 00:00:01 must be between 00:00:02 and 01:00:00: the DHT22 needs 2 s between reads.")]
    [InlineData("ReadingInterval=00:00:01", "Gateway:LocalSensors:0:ReadingInterval 00:00:01 must be between 00:00:02 and 01:00:00 (the DHT22 is read at most every 2 s).")]
    public async Task A_bad_local_sensor_setting_stops_the_start_with_its_key_named(string setting, string expected)
    {
        var dataDir = TestGateway.NewDataDir();
        try
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => TestGateway.StartAsync(dataDir, [.. LocalSensorRig.Sensor(0, "pi-x", "GpioPin=4", setting)]));
            Assert.Contains(expected, error.ToString());
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Two_sensors_on_one_pin_or_with_one_id_are_refused()
    {
        var dataDir = TestGateway.NewDataDir();
        try
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => TestGateway.StartAsync(dataDir,
                [.. LocalSensorRig.Sensor(0, "pi-a", "GpioPin=4"), .. LocalSensorRig.Sensor(1, "pi-a", "GpioPin=4"), .. LocalSensorRig.Sensor(2, "pi-c")]));
            var text = error.ToString();
            Assert.Contains("Gateway:LocalSensors:1:DeviceId 'pi-a' is listed twice.", text);
            Assert.Contains("Gateway:LocalSensors:1:GpioPin 4 is used by another local sensor.", text);
            Assert.Contains("Gateway:LocalSensors:2:GpioPin is required for driver gpio", text);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
