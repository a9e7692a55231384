using System.Text.Json;
using IotWs.Gateway.Rpc;
using IotWs.Gateway.Tests.Infrastructure;
using static IotWs.Gateway.Tests.Rpc.RpcSteps;

namespace IotWs.Gateway.Tests.Rpc;

/// <summary>What must outlive a gateway process: queued calls, the audit log (within its retention), honest outcomes of interrupted calls.</summary>
public sealed class RpcDurabilityTests
{
    [Fact]
    public async Task Queued_calls_survive_a_gateway_restart_and_are_delivered_in_order()
    {
        var dataDir = TestGateway.NewDataDir();
        try
        {
            string token, key;
            var ids = new List<string>();
            await using (var before = await TestGateway.StartAsync(dataDir, Fast))
            {
                token = before.AddDevice("esp-1");
                key = before.AddKey("technician");
                using var http = before.Http(key);
                foreach (var endpoint in new[] { "identify", "reboot" })
                {
                    var (status, call, _) = await PostAsync(http, "esp-1", new { endpoint, persistent = true, ttlSeconds = 600 });
                    Assert.Equal(202, status);
                    ids.Add(call.GetProperty("id").GetString()!);
                }
            }

            await using var after = await TestGateway.StartAsync(dataDir, Fast);
            using var http2 = after.Http(key);
            await using var device = await after.ConnectDeviceAsync("esp-1", token, bootId: 1);
            var identify = await device.ReceiveAsync("request");
            Assert.Equal(ids[0], identify.GetProperty("requestId").GetString());
            await AnswerAsync(device, identify, new { blinking = true });
            var reboot = await device.ReceiveAsync("request");
            Assert.Equal(ids[1], reboot.GetProperty("requestId").GetString());
            Assert.Equal("reboot", reboot.GetProperty("endpoint").GetString());
            await AnswerAsync(device, reboot, new { message = "Rebooting in 3 seconds" });

            Assert.Equal(["queued", "sent", "succeeded"], Statuses(await WaitForStatusAsync(http2, ids[0], "succeeded")));
            await WaitForStatusAsync(http2, ids[1], "rebooting");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task A_call_in_flight_when_the_gateway_died_is_failed_with_gateway_restarted_on_the_next_start()
    {
        var dataDir = TestGateway.NewDataDir();
        try
        {
            string key;
            var now = DateTimeOffset.UtcNow;
            await using (var before = await TestGateway.StartAsync(dataDir, Fast))
            {
                before.AddDevice("esp-1");
                key = before.AddKey("technician");
                // What a crash leaves behind: a call recorded as sent whose answer died with the process.
                before.Service<global::IotWs.Gateway.Storage.IRpcCallStore>().Insert(new global::IotWs.Gateway.Storage.RpcCallRow
                {
                    Id = "rpc_crashed", DeviceId = "esp-1", Endpoint = "ping", DataJson = "{}", Status = "sent", Caller = "tech", Role = "technician",
                    CreatedAt = now, UpdatedAt = now, SentAt = now, TimeoutMs = 10000, History = [new global::IotWs.Gateway.Storage.RpcStatusRow("sent", now)],
                });
            }

            await using var after = await TestGateway.StartAsync(dataDir, Fast);
            var call = await GetCallAsync(after.Http(key), "rpc_crashed");
            Assert.Equal("failed", call.GetProperty("status").GetString());
            Assert.Equal("gateway_restarted", call.GetProperty("error").GetString());
            Assert.Equal(["sent", "failed"], Statuses(call));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Retention_sweep_removes_finished_calls_and_keeps_queued_ones()
    {
        await using var gateway = await TestGateway.StartAsync(null, [.. Fast, "Rpc:AuditRetention=00:00:00.200", "Rpc:RetentionSweepInterval=00:00:00.050"]);
        gateway.AddDevice("esp-1");
        using var http = gateway.Http(gateway.AddKey("technician"));

        var finished = (await PostAsync(http, "esp-1", new { endpoint = "ping" })).Body.GetProperty("id").GetString()!;
        var queued = (await PostAsync(http, "esp-1", new { endpoint = "ping", persistent = true, ttlSeconds = 600 })).Body.GetProperty("id").GetString()!;

        var clock = System.Diagnostics.Stopwatch.StartNew();
        while ((int)(await http.GetAsync($"/api/rpc/{finished}")).StatusCode != 404)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "the finished call was never swept");
            await Task.Delay(25);
        }
        Assert.Equal("queued", (await GetCallAsync(http, queued)).GetProperty("status").GetString());
        var all = JsonDocument.Parse(await http.GetStringAsync("/api/rpc")).RootElement;
        Assert.Equal([queued], all.EnumerateArray().Select(c => c.GetProperty("id").GetString()!).ToArray());
    }
}
