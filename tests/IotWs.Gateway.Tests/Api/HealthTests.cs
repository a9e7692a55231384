using System.Globalization;
using System.Net;
using System.Text.Json;
using IotWs.Gateway.Storage.Sqlite;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Presence;
using IotWs.Gateway.Tests.PubSub;
using IotWs.Mqtt.Tests.Infrastructure;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Tests.Api;

/// <summary>Issue 15: /healthz (liveness) and /readyz (database writable, writer not stalled, MQTT connected when enabled).</summary>
[Collection(TimingSensitive.Name)]
public sealed class HealthTests
{
    private static async Task<(HttpStatusCode Status, Dictionary<string, string> Checks, string Body)> ReadyAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/readyz");
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var checks = JsonDocument.Parse(body).RootElement.GetProperty("checks").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString()!);
        return (response.StatusCode, checks, body);
    }

    private static SqliteConnection HoldWriteLock(string dataDir)
    {
        var connection = new SqliteConnection($"Data Source={Path.Combine(dataDir, SqliteDatabase.FileName)};Pooling=False");
        connection.Open();
        using var begin = connection.CreateCommand();
        // A write inside the transaction: the lock is held until the connection is disposed (and rolls back).
        begin.CommandText = "BEGIN IMMEDIATE; CREATE TABLE test_lock_holder (x);";
        begin.ExecuteNonQuery();
        return connection;
    }

    [Fact]
    public async Task Liveness_and_readiness_answer_without_a_key_and_name_their_checks()
    {
        await using var gateway = await TestGateway.StartAsync();
        var http = gateway.Http();

        using var live = await http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("Healthy", await live.Content.ReadAsStringAsync());

        var ready = await ReadyAsync(http);
        Assert.True(ready.Status == HttpStatusCode.OK, ready.Body);
        Assert.Equal(new Dictionary<string, string> { ["database"] = "Healthy", ["readings-writer"] = "Healthy", ["mqtt"] = "Healthy" }, ready.Checks);
    }

    [Fact]
    public async Task A_database_that_takes_no_writes_makes_the_gateway_not_ready_until_it_does()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Health:DatabaseLockTimeout=00:00:00.200");
        var http = gateway.Http();

        using (HoldWriteLock(gateway.DataDir))
        {
            var locked = await ReadyAsync(http);
            Assert.True(locked.Status == HttpStatusCode.ServiceUnavailable, locked.Body);
            Assert.Equal("Unhealthy", locked.Checks["database"]);
            Assert.Contains("does not take writes", locked.Body, StringComparison.Ordinal);
            // Liveness does not depend on it: the process is fine, restarting it would not help.
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        }
        var released = await ReadyAsync(http);
        Assert.True(released.Status == HttpStatusCode.OK, released.Body);
    }

    [Fact]
    public async Task Readings_waiting_with_no_commit_for_the_stall_time_make_the_gateway_not_ready()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var gateway = await TestGateway.StartAsync(null, b => b.Services.AddSingleton<TimeProvider>(clock),
            "Health:DatabaseLockTimeout=00:00:00.100", "Health:WriterStallAfter=00:00:30", "Storage:CommitInterval=00:00:00.020");
        var token = gateway.AddDevice("esp-stall");
        var http = gateway.Http();
        await using var device = await gateway.ConnectDeviceAsync("esp-stall", token, 2, heartbeatMs: 600_000);

        using (HoldWriteLock(gateway.DataDir))
        {
            // The writer's commit now waits for the lock (busy_timeout 10 s), with this reading queued.
            await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 2, timestamp = clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), data = new { temperature = 20.0, humidity = 50.0 } });
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (gateway.Service<IotWs.Gateway.Readings.ReadingWriter>().Stats.Queued == 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
            Assert.Equal(1, gateway.Service<IotWs.Gateway.Readings.ReadingWriter>().Stats.Queued);

            Assert.Equal("Healthy", (await ReadyAsync(http)).Checks["readings-writer"]);
            clock.Advance(TimeSpan.FromSeconds(31));
            var stalled = await ReadyAsync(http);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, stalled.Status);
            Assert.Equal("Unhealthy", stalled.Checks["readings-writer"]);
            Assert.Contains("1 readings have waited 31 s", stalled.Body, StringComparison.Ordinal);
        }
        // Released: the commit finishes, the reading is acknowledged, and the writer is healthy again.
        var ack = await device.ReceiveAsync("data_response");
        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        var again = await ReadyAsync(http);
        Assert.True(again.Status == HttpStatusCode.OK, again.Body);
    }

    [Fact]
    public async Task An_enabled_mqtt_bridge_without_its_broker_makes_the_gateway_not_ready()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Mqtt:Enabled=true", "Mqtt:Host=127.0.0.1", $"Mqtt:Port={MetricsTests.UnusedPort()}");
        var ready = await ReadyAsync(gateway.Http());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.Status);
        Assert.Equal("Unhealthy", ready.Checks["mqtt"]);
        Assert.Equal("Healthy", ready.Checks["database"]);
        Assert.Contains("Not connected to the MQTT broker 127.0.0.1:", ready.Body, StringComparison.Ordinal);
    }

    [MosquittoFact]
    public async Task An_mqtt_bridge_connected_to_its_broker_is_ready()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, "Mqtt:Enabled=true", "Mqtt:Host=127.0.0.1", $"Mqtt:Port={broker.Port}", "Mqtt:ClientId=iotws-ready");
        var http = gateway.Http();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var ready = await ReadyAsync(http);
        while (ready.Status != HttpStatusCode.OK && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            ready = await ReadyAsync(http);
        }
        Assert.True(ready.Status == HttpStatusCode.OK, ready.Body);
        Assert.Equal("Healthy", ready.Checks["mqtt"]);
    }
}
