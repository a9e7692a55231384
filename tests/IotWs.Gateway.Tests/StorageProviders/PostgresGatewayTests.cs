using System.Globalization;
using System.Net;
using System.Text.Json;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Tests.Infrastructure;
using Npgsql;

namespace IotWs.Gateway.Tests.StorageProviders;

/// <summary>A whole gateway on Gateway:Storage:Provider=Postgres: real Kestrel, a real device socket, a real PostgreSQL.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresGatewayTests(PostgresFixture postgres)
{
    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    [PostgresFact]
    public async Task A_cli_verb_given_the_same_storage_keys_provisions_the_device_a_postgres_gateway_accepts()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        string[] storage = ["--Gateway:Storage:Provider=Postgres", "--Gateway:Storage:ConnectionString=" + connectionString];
        var cliDir = TestGateway.NewDataDir();
        try
        {
            var output = new StringWriter();
            Assert.Equal(0, global::IotWs.Gateway.Cli.GatewayCli.Run(["devices", "add", "esp-cli", "--data-dir", cliDir, .. storage], output, TextWriter.Null));
            var token = JsonDocument.Parse(output.ToString().Trim()).RootElement.GetProperty("token").GetString()!;
            Assert.False(File.Exists(Path.Combine(cliDir, "iotws.db")), "the verb wrote PostgreSQL, not a SQLite file");

            await using var gateway = await TestGateway.StartAsync(null, "Storage:Provider=Postgres", "Storage:ConnectionString=" + connectionString);
            await using var device = await gateway.ConnectDeviceAsync("esp-cli", token);
        }
        finally
        {
            Directory.Delete(cliDir, recursive: true);
        }
    }

    [PostgresFact]
    public async Task A_gateway_on_postgres_stores_acked_readings_there_and_serves_them_as_history()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        var at = DateTimeOffset.UtcNow.AddMinutes(-5);
        var ids = new List<long>();
        await using (var gateway = await TestGateway.StartAsync(null, "Storage:Provider=Postgres", "Storage:ConnectionString=" + connectionString, "Storage:CommitInterval=00:00:00.020"))
        {
            Assert.Equal("postgres", gateway.Service<IStorageInfo>().Provider);
            var token = gateway.AddDevice("esp-pg");
            var http = gateway.Http(gateway.AddKey("viewer"));
            await using var device = await gateway.ConnectDeviceAsync("esp-pg", token, bootId: 4);
            for (var seq = 1; seq <= 3; seq++)
            {
                await device.SendAsync(new { type = "data", dataType = "sensor", seq, bootId = 4, timestamp = Iso(at.AddSeconds(seq)), data = new { temperature = 20 + seq, humidity = 50 } });
                var ack = await device.ReceiveAsync("data_response", where: m => m.TryGetProperty("seq", out var s) && s.GetInt64() == seq);
                Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
                ids.Add(ack.GetProperty("insertId").GetInt64());
            }
            // A replay is answered with the first insert id, not stored again.
            await device.SendAsync(new { type = "data", dataType = "sensor", seq = 2, bootId = 4, timestamp = Iso(at.AddSeconds(2)), data = new { temperature = 22, humidity = 50 } });
            var replay = await device.ReceiveAsync("data_response", where: m => m.TryGetProperty("seq", out var s) && s.GetInt64() == 2);
            Assert.Equal(ids[1], replay.GetProperty("insertId").GetInt64());

            var response = await http.GetAsync("/api/devices/esp-pg/readings");
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, body);
            var history = JsonDocument.Parse(body).RootElement;
            Assert.Equal([1L, 2L, 3L], history.EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()));
            Assert.Equal(ids, history.EnumerateArray().Select(r => r.GetProperty("insertId").GetInt64()));
            Assert.Equal(23, history[2].GetProperty("temperature").GetDouble());

            var status = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement;
            Assert.Equal("postgres", status.GetProperty("database").GetProperty("provider").GetString());
            var ready = await http.GetAsync("/readyz");
            Assert.True(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
            Assert.False(File.Exists(Path.Combine(gateway.DataDir, "iotws.db")), "a Postgres gateway keeps no SQLite file");
        }

        // The rows are in PostgreSQL itself, with their ids.
        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT id, seq, temperature FROM readings WHERE device_id = 'esp-pg' ORDER BY seq", c);
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<(long Id, long Seq, double T)>();
        while (await r.ReadAsync()) rows.Add((r.GetInt64(0), r.GetInt64(1), r.GetDouble(2)));
        Assert.Equal([(ids[0], 1L, 21.0), (ids[1], 2L, 22.0), (ids[2], 3L, 23.0)], rows);
    }

    [PostgresFact]
    public async Task A_field_one_gateway_encrypted_is_decrypted_by_another_gateway_on_the_same_database()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        string[] settings = ["Storage:Provider=Postgres", "Storage:ConnectionString=" + connectionString, "Storage:CommitInterval=00:00:00.020", "FieldsToEncrypt:0=location"];
        await using var a = await TestGateway.StartAsync(null, settings);
        await using var b = await TestGateway.StartAsync(null, settings);

        var token = a.AddDevice("esp-ring");
        await using (var device = await a.ConnectDeviceAsync("esp-ring", token, bootId: 2))
        {
            await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 2, data = new { temperature = 21, humidity = 45, location = "greenhouse-north" } });
            var ack = await device.ReceiveAsync("data_response");
            Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        }

        // Gateway B never saw the device and has its own data directory: it can only decrypt with the ring in PostgreSQL.
        var response = await b.Http(b.AddKey("viewer")).GetAsync("/api/devices/esp-ring/readings");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal("greenhouse-north", JsonDocument.Parse(body).RootElement[0].GetProperty("location").GetString());

        await using var c = new NpgsqlConnection(connectionString);
        await c.OpenAsync();
        await using (var cmd = new NpgsqlCommand("SELECT location FROM readings WHERE device_id = 'esp-ring'", c))
            Assert.StartsWith("enc:v1:", (string)(await cmd.ExecuteScalarAsync())!);
        await using (var cmd = new NpgsqlCommand("SELECT count(*) FROM data_protection_keys", c))
            Assert.Equal(1L, (long)(await cmd.ExecuteScalarAsync())!);
        foreach (var gateway in new[] { a, b })
        {
            var keys = Path.Combine(gateway.DataDir, "keys");
            Assert.False(Directory.Exists(keys) && Directory.EnumerateFileSystemEntries(keys).Any(), "a Postgres gateway keeps no key files");
        }
    }

    [PostgresFact]
    public async Task Gateways_started_together_on_one_database_make_one_key_and_read_each_others_encrypted_fields()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        string[] settings = ["Storage:Provider=Postgres", "Storage:ConnectionString=" + connectionString, "Storage:CommitInterval=00:00:00.020", "FieldsToEncrypt:0=location"];
        var starting = Enumerable.Range(0, 3).Select(_ => TestGateway.StartAsync(null, settings)).ToArray();
        var gateways = await Task.WhenAll(starting);
        try
        {
            await using (var c = new NpgsqlConnection(connectionString))
            {
                await c.OpenAsync();
                await using var cmd = new NpgsqlCommand("SELECT count(*) FROM data_protection_keys", c);
                Assert.Equal(1L, (long)(await cmd.ExecuteScalarAsync())!);
            }

            // Each gateway stores a reading with an encrypted field; every gateway reads all of them in the clear.
            for (var i = 0; i < gateways.Length; i++)
            {
                var token = gateways[i].AddDevice($"esp-n{i}");
                await using var device = await gateways[i].ConnectDeviceAsync($"esp-n{i}", token, bootId: 1);
                await device.SendAsync(new { type = "data", dataType = "sensor", seq = 1, bootId = 1, data = new { temperature = 20, humidity = 40, location = $"room-{i}" } });
                var ack = await device.ReceiveAsync("data_response");
                Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
            }
            foreach (var reader in gateways)
            {
                var http = reader.Http(reader.AddKey("viewer"));
                for (var i = 0; i < gateways.Length; i++)
                {
                    var history = JsonDocument.Parse(await http.GetStringAsync($"/api/devices/esp-n{i}/readings")).RootElement;
                    Assert.Equal($"room-{i}", history[0].GetProperty("location").GetString());
                }
            }
        }
        finally
        {
            foreach (var gateway in gateways) await gateway.DisposeAsync();
        }
    }
}
