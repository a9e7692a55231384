using System.Diagnostics;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;
using static IotWs.Gateway.Tests.Rpc.RpcSteps;

namespace IotWs.Gateway.Tests.Rpc;

/// <summary>POST /api/devices/{id}/rpc against a real WebSocket device: every outcome a technician can see.</summary>
public sealed class RpcCallTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private string _techKey = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(null, Fast);
        _techKey = _gateway.AddKey("technician", "tech-anna");
    }

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Call_the_device_answers_is_succeeded_with_its_result_and_exactly_the_contract_fields()
    {
        var token = _gateway.AddDevice("esp-1");
        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        using var http = _gateway.Http(_techKey);

        var post = PostAsync(http, "esp-1", new { endpoint = "get_sensor_status", data = new { verbose = true } });
        var request = await device.ReceiveAsync("request");
        Assert.Equal("get_sensor_status", request.GetProperty("endpoint").GetString());
        Assert.True(request.GetProperty("data").GetProperty("verbose").GetBoolean());
        await AnswerAsync(device, request, new { temperature = 21.5, humidity = 40, uptime = 1000, free_heap = 20000 });
        var (status, call, _) = await post;

        Assert.Equal(200, status);
        Assert.Equal(
            ["id", "deviceId", "endpoint", "data", "status", "caller", "role", "createdAt", "updatedAt", "completedAt", "result", "error", "persistent", "expiresAt", "durationMs", "history"],
            call.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(request.GetProperty("requestId").GetString(), call.GetProperty("id").GetString());
        Assert.Equal("esp-1", call.GetProperty("deviceId").GetString());
        Assert.Equal("succeeded", call.GetProperty("status").GetString());
        Assert.Equal(21.5, call.GetProperty("result").GetProperty("temperature").GetDouble());
        Assert.True(call.GetProperty("data").GetProperty("verbose").GetBoolean());
        Assert.Equal("tech-anna", call.GetProperty("caller").GetString());
        Assert.Equal("technician", call.GetProperty("role").GetString());
        Assert.False(call.GetProperty("persistent").GetBoolean());
        Assert.Equal(JsonValueKind.Null, call.GetProperty("error").ValueKind);
        Assert.Equal(JsonValueKind.Null, call.GetProperty("expiresAt").ValueKind);
        Assert.True(call.GetProperty("durationMs").GetInt64() >= 0);
        foreach (var field in new[] { "createdAt", "updatedAt", "completedAt" })
        {
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", call.GetProperty(field).GetString());
        }
        Assert.Equal(["sent", "succeeded"], Statuses(call));
        Assert.Equal(0, Pending(_gateway));
    }

    [Fact]
    public async Task Device_error_is_reported_as_failed_with_the_devices_own_error()
    {
        var token = _gateway.AddDevice("esp-1");
        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        using var http = _gateway.Http(_techKey);

        var post = PostAsync(http, "esp-1", new { endpoint = "get_weather" });
        var request = await device.ReceiveAsync("request");
        Assert.Equal(JsonValueKind.Object, request.GetProperty("data").ValueKind);
        await FailAsync(device, request, "Unknown endpoint: get_weather");
        var (status, call, _) = await post;

        Assert.Equal(200, status);
        Assert.Equal("failed", call.GetProperty("status").GetString());
        Assert.Equal("Unknown endpoint: get_weather", call.GetProperty("error").GetString());
        Assert.Equal(["sent", "failed"], Statuses(call));
    }

    [Fact]
    public async Task Call_the_device_never_answers_times_out_with_504_and_leaves_nothing_pending()
    {
        var token = _gateway.AddDevice("esp-1");
        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        using var http = _gateway.Http(_techKey);

        var clock = Stopwatch.StartNew();
        var post = PostAsync(http, "esp-1", new { endpoint = "ping", timeoutMs = 300 });
        var request = await device.ReceiveAsync("request");
        var (status, call, _) = await post;

        Assert.Equal(504, status);
        Assert.InRange(clock.ElapsedMilliseconds, 250, 5000);
        Assert.Equal("timeout", call.GetProperty("status").GetString());
        Assert.Equal("timeout", call.GetProperty("error").GetString());
        Assert.Equal(0, Pending(_gateway));

        // An answer after the timeout changes nothing: the technician was already told.
        await AnswerAsync(device, request, new { pong = true });
        await device.SendAsync(new { type = "heartbeat", timestamp = 1 });
        await device.ReceiveAsync("heartbeat_response");
        Assert.Equal("timeout", (await GetCallAsync(http, call.GetProperty("id").GetString()!)).GetProperty("status").GetString());
        Assert.DoesNotContain(device.RawMessages, m => m.Contains("\"type\":\"error\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Call_to_an_offline_device_fails_at_once_with_device_offline_and_200()
    {
        _gateway.AddDevice("esp-away");
        using var http = _gateway.Http(_techKey);

        var (status, call, _) = await PostAsync(http, "esp-away", new { endpoint = "ping" });

        Assert.Equal(200, status);
        Assert.Equal("failed", call.GetProperty("status").GetString());
        Assert.Equal("device_offline", call.GetProperty("error").GetString());
        Assert.Equal(["failed"], Statuses(call));
        Assert.Equal(JsonValueKind.Null, call.GetProperty("durationMs").ValueKind);
    }

    [Fact]
    public async Task Device_that_disconnects_fails_its_pending_calls_at_once_with_device_disconnected()
    {
        var token = _gateway.AddDevice("esp-1");
        var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        using var http = _gateway.Http(_techKey);

        var first = PostAsync(http, "esp-1", new { endpoint = "ping", timeoutMs = 30000 });
        var second = PostAsync(http, "esp-1", new { endpoint = "identify", timeoutMs = 30000 });
        await device.ReceiveAsync("request", where: r => r.GetProperty("endpoint").GetString() == "ping");
        await device.ReceiveAsync("request", where: r => r.GetProperty("endpoint").GetString() == "identify");
        var clock = Stopwatch.StartNew();
        device.Abort();
        await device.DisposeAsync();

        foreach (var (status, call, _) in await Task.WhenAll(first, second))
        {
            Assert.Equal(200, status);
            Assert.Equal("failed", call.GetProperty("status").GetString());
            Assert.Equal("device_disconnected", call.GetProperty("error").GetString());
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal(0, Pending(_gateway));
    }

    [Fact]
    public async Task Response_from_another_device_or_with_an_unknown_requestId_is_ignored()
    {
        var tokenA = _gateway.AddDevice("esp-a");
        var tokenB = _gateway.AddDevice("esp-b");
        await using var a = await _gateway.ConnectDeviceAsync("esp-a", tokenA);
        await using var b = await _gateway.ConnectDeviceAsync("esp-b", tokenB);
        using var http = _gateway.Http(_techKey);

        var post = PostAsync(http, "esp-a", new { endpoint = "ping", timeoutMs = 10000 });
        var request = await a.ReceiveAsync("request");
        await AnswerAsync(b, request, new { from = "b" });
        await b.SendAsync(new { type = "response", requestId = "rpc_nobody", success = true, data = new { } });
        await b.SendAsync(new { type = "heartbeat", timestamp = 1 });
        await b.ReceiveAsync("heartbeat_response");
        Assert.False(post.IsCompleted);
        Assert.Equal(1, Pending(_gateway));

        await AnswerAsync(a, request, new { from = "a" });
        var (_, call, _) = await post;
        Assert.Equal("a", call.GetProperty("result").GetProperty("from").GetString());
        Assert.DoesNotContain(b.RawMessages, m => m.Contains("\"type\":\"error\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Persistent_call_to_a_connected_device_answers_200_once_finished()
    {
        var token = _gateway.AddDevice("esp-1");
        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        using var http = _gateway.Http(_techKey);

        var post = PostAsync(http, "esp-1", new { endpoint = "ping", persistent = true, ttlSeconds = 60 });
        await AnswerAsync(device, await device.ReceiveAsync("request"), new { pong = true });
        var (status, call, _) = await post;

        Assert.Equal(200, status);
        Assert.Equal("succeeded", call.GetProperty("status").GetString());
        Assert.Equal(["queued", "sent", "succeeded"], Statuses(call));
    }

    [Fact]
    public async Task Persistent_call_is_queued_with_202_then_sent_and_succeeded_when_the_device_connects()
    {
        var token = _gateway.AddDevice("esp-1");
        using var http = _gateway.Http(_techKey);

        var (status, queued, response) = await PostAsync(http, "esp-1", new { endpoint = "get_sensor_status", persistent = true, ttlSeconds = 60 });
        Assert.Equal(202, status);
        Assert.Equal("queued", queued.GetProperty("status").GetString());
        var id = queued.GetProperty("id").GetString()!;
        Assert.Equal("/api/rpc/" + id, response.Headers.Location?.ToString());
        var expiresAt = DateTimeOffset.Parse(queued.GetProperty("expiresAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        var createdAt = DateTimeOffset.Parse(queued.GetProperty("createdAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(TimeSpan.FromSeconds(60), expiresAt - createdAt);

        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        var request = await device.ReceiveAsync("request");
        Assert.Equal(id, request.GetProperty("requestId").GetString());
        await AnswerAsync(device, request, new { temperature = 20.0 });

        var call = await WaitForStatusAsync(http, id, "succeeded");
        Assert.Equal(["queued", "sent", "succeeded"], Statuses(call));
        Assert.Equal(0, Pending(_gateway));
    }

    [Fact]
    public async Task Queued_calls_reach_a_reconnecting_device_in_the_order_they_were_made()
    {
        var token = _gateway.AddDevice("esp-1");
        using var http = _gateway.Http(_techKey);
        var first = await _gateway.ConnectDeviceAsync("esp-1", token);
        first.Abort();
        await first.DisposeAsync();
        await WaitUntilAsync(() => !_gateway.Service<Connections.ConnectionRegistry>().IsDeviceConnected("esp-1"));

        var ids = new List<string>();
        for (var n = 1; n <= 3; n++)
        {
            var (status, call, _) = await PostAsync(http, "esp-1", new { endpoint = "set_interval", data = new { n }, persistent = true });
            Assert.Equal(202, status);
            ids.Add(call.GetProperty("id").GetString()!);
        }

        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token, bootId: 2);
        for (var n = 1; n <= 3; n++)
        {
            var request = await device.ReceiveAsync("request");
            Assert.Equal(n, request.GetProperty("data").GetProperty("n").GetInt32());
            Assert.Equal(ids[n - 1], request.GetProperty("requestId").GetString());
            // One at a time: the next call goes out only after this one's outcome.
            Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(100)));
            await AnswerAsync(device, request, new { ok = n });
        }
        foreach (var id in ids) await WaitForStatusAsync(http, id, "succeeded");
    }

    [Fact]
    public async Task Expired_persistent_call_is_never_delivered()
    {
        var token = _gateway.AddDevice("esp-1");
        using var http = _gateway.Http(_techKey);

        var (status, queued, _) = await PostAsync(http, "esp-1", new { endpoint = "identify", persistent = true, ttlSeconds = 1 });
        Assert.Equal(202, status);
        var call = await WaitForStatusAsync(http, queued.GetProperty("id").GetString()!, "expired", TimeSpan.FromSeconds(5));
        Assert.Equal(["queued", "expired"], Statuses(call));
        Assert.NotEqual(JsonValueKind.Null, call.GetProperty("completedAt").ValueKind);

        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(500)));
        Assert.Equal("expired", (await GetCallAsync(http, call.GetProperty("id").GetString()!)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Acknowledged_reboot_is_rebooting_then_confirmed_when_the_device_returns_with_a_higher_bootId()
    {
        var token = _gateway.AddDevice("esp-1");
        using var http = _gateway.Http(_techKey);
        var device = await _gateway.ConnectDeviceAsync("esp-1", token, bootId: 7);

        var post = PostAsync(http, "esp-1", new { endpoint = "reboot" });
        await AnswerAsync(device, await device.ReceiveAsync("request"), new { message = "Rebooting in 3 seconds" });
        var (status, call, _) = await post;
        Assert.Equal(200, status);
        Assert.Equal("rebooting", call.GetProperty("status").GetString());
        Assert.Equal("Rebooting in 3 seconds", call.GetProperty("result").GetProperty("message").GetString());
        Assert.Equal(JsonValueKind.Null, call.GetProperty("completedAt").ValueKind);
        var id = call.GetProperty("id").GetString()!;
        device.Abort();
        await device.DisposeAsync();

        // Back without a new boot (only the WiFi dropped): not a confirmation.
        await using (var sameBoot = await _gateway.ConnectDeviceAsync("esp-1", token, bootId: 7))
        {
            await Task.Delay(200);
            Assert.Equal("rebooting", (await GetCallAsync(http, id)).GetProperty("status").GetString());
        }

        await using var rebooted = await _gateway.ConnectDeviceAsync("esp-1", token, bootId: 8);
        var confirmed = await WaitForStatusAsync(http, id, "confirmed");
        Assert.Equal(["sent", "rebooting", "confirmed"], Statuses(confirmed));
        Assert.NotEqual(JsonValueKind.Null, confirmed.GetProperty("completedAt").ValueKind);
    }

    [Fact]
    public async Task Acknowledged_reboot_is_unconfirmed_when_the_device_does_not_return_within_the_window()
    {
        await using var gateway = await TestGateway.StartAsync(null, [.. Fast, "Rpc:RebootConfirmTimeout=00:00:00.300"]);
        var token = gateway.AddDevice("esp-1");
        using var http = gateway.Http(gateway.AddKey("admin"));
        await using var device = await gateway.ConnectDeviceAsync("esp-1", token, bootId: 3);

        var post = PostAsync(http, "esp-1", new { endpoint = "reboot" });
        await AnswerAsync(device, await device.ReceiveAsync("request"), new { message = "Rebooting in 3 seconds" });
        var (status, call, _) = await post;
        Assert.Equal(200, status);
        Assert.Equal("rebooting", call.GetProperty("status").GetString());

        var unconfirmed = await WaitForStatusAsync(http, call.GetProperty("id").GetString()!, "unconfirmed");
        Assert.Equal(["sent", "rebooting", "unconfirmed"], Statuses(unconfirmed));
    }

    [Fact]
    public async Task Same_idempotency_key_returns_the_same_call_and_reaches_the_device_once()
    {
        var token = _gateway.AddDevice("esp-1");
        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        using var http = _gateway.Http(_techKey);
        var body = new { endpoint = "identify", data = new { blink = 3 }, idempotencyKey = "job-42" };

        // A script that retries while the first try is still waiting for the device.
        var first = PostAsync(http, "esp-1", body);
        var request = await device.ReceiveAsync("request");
        var second = PostAsync(http, "esp-1", body);
        await Task.Delay(100);
        await AnswerAsync(device, request, new { ok = true });
        var results = await Task.WhenAll(first, second);

        Assert.All(results, r => Assert.Equal(200, r.Status));
        Assert.Equal(results[0].Body.GetProperty("id").GetString(), results[1].Body.GetProperty("id").GetString());
        Assert.All(results, r => Assert.Equal("succeeded", r.Body.GetProperty("status").GetString()));
        // A retry after the outcome gets the same call again, without a new request.
        var (_, third, _) = await PostAsync(http, "esp-1", body);
        Assert.Equal(results[0].Body.GetProperty("id").GetString(), third.GetProperty("id").GetString());
        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(300)));
        Assert.Single(device.RawMessages, m => m.Contains("\"type\":\"request\"", StringComparison.Ordinal));

        var (conflict, problem) = await PostRawAsync(http, "esp-1", """{"endpoint":"reboot","idempotencyKey":"job-42"}""");
        Assert.Equal(409, conflict);
        Assert.Equal("idempotency_conflict", problem.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Retry_with_the_same_idempotency_key_after_device_offline_really_tries_again()
    {
        var token = _gateway.AddDevice("esp-1");
        using var http = _gateway.Http(_techKey);
        var body = new { endpoint = "identify", idempotencyKey = "retry-me" };

        var (_, offline, _) = await PostAsync(http, "esp-1", body);
        Assert.Equal("device_offline", offline.GetProperty("error").GetString());

        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        var retry = PostAsync(http, "esp-1", body);
        await AnswerAsync(device, await device.ReceiveAsync("request"), new { ok = true });
        var (status, call, _) = await retry;
        Assert.Equal(200, status);
        Assert.Equal("succeeded", call.GetProperty("status").GetString());
        Assert.NotEqual(offline.GetProperty("id").GetString(), call.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Same_idempotency_key_for_a_queued_call_queues_it_once()
    {
        var token = _gateway.AddDevice("esp-1");
        using var http = _gateway.Http(_techKey);
        var body = new { endpoint = "reboot", persistent = true, ttlSeconds = 300, idempotencyKey = "night-reboot" };

        var (s1, c1, _) = await PostAsync(http, "esp-1", body);
        var (s2, c2, _) = await PostAsync(http, "esp-1", body);
        Assert.Equal(202, s1);
        Assert.Equal(202, s2);
        Assert.Equal(c1.GetProperty("id").GetString(), c2.GetProperty("id").GetString());

        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        await device.ReceiveAsync("request");
        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Rest_enforces_roles_devices_and_the_body()
    {
        _gateway.AddDevice("esp-1");
        using var anonymous = _gateway.Http();
        using var viewer = _gateway.Http(_gateway.AddKey("viewer"));
        using var tech = _gateway.Http(_techKey);

        Assert.Equal(401, (await PostRawAsync(anonymous, "esp-1", "not json")).Status);
        Assert.Equal(403, (await PostRawAsync(viewer, "esp-1", """{"endpoint":"reboot"}""")).Status);
        Assert.Equal(404, (await PostRawAsync(tech, "esp-nobody", """{"endpoint":"reboot"}""")).Status);
        foreach (var bad in new[] { "not json", "[]", "{}", """{"endpoint":""}""", """{"endpoint":5}""", """{"endpoint":"ping","timeoutMs":"soon"}""",
                     """{"endpoint":"ping","timeoutMs":10}""", """{"endpoint":"ping","timeoutMs":99999999999999999}""", """{"endpoint":"ping","ttlSeconds":0}""",
                     """{"endpoint":"ping","persistent":"yes"}""", """{"endpoint":"ping","idempotencyKey":""}""" })
        {
            var (status, problem) = await PostRawAsync(tech, "esp-1", bad);
            Assert.True(status == 400, $"{bad} → {status} {problem}");
            Assert.Equal("validation_failed", problem.GetProperty("error").GetString());
        }

        Assert.Equal(401, (int)(await anonymous.GetAsync("/api/rpc")).StatusCode);
        // The audit log (who called what) is for technicians and admins, as on the dashboard.
        Assert.Equal(403, (int)(await viewer.GetAsync("/api/rpc")).StatusCode);
        Assert.Equal(403, (int)(await viewer.GetAsync("/api/rpc/rpc_nothing")).StatusCode);
        Assert.Equal(200, (int)(await tech.GetAsync("/api/rpc")).StatusCode);
        Assert.Equal(404, (int)(await tech.GetAsync("/api/rpc/rpc_nothing")).StatusCode);
        Assert.Equal(400, (int)(await tech.GetAsync("/api/rpc?limit=0")).StatusCode);
        // Nothing reached the audit log from refused requests.
        Assert.Equal("[]", await (await tech.GetAsync("/api/rpc")).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Audit_log_lists_calls_newest_first_with_caller_and_role()
    {
        _gateway.AddDevice("esp-1");
        _gateway.AddDevice("esp-2");
        using var tech = _gateway.Http(_techKey);
        using var admin = _gateway.Http(_gateway.AddKey("admin", "admin-bob"));
        using var viewer = _gateway.Http(_gateway.AddKey("technician"));

        var first = (await PostAsync(tech, "esp-1", new { endpoint = "ping" })).Body.GetProperty("id").GetString()!;
        var second = (await PostAsync(admin, "esp-2", new { endpoint = "identify" })).Body.GetProperty("id").GetString()!;
        var third = (await PostAsync(admin, "esp-1", new { endpoint = "reboot", persistent = true })).Body.GetProperty("id").GetString()!;

        var all = JsonDocument.Parse(await viewer.GetStringAsync("/api/rpc")).RootElement;
        Assert.Equal([third, second, first], all.EnumerateArray().Select(c => c.GetProperty("id").GetString()!).ToArray());
        Assert.Equal(["admin-bob", "admin-bob", "tech-anna"], all.EnumerateArray().Select(c => c.GetProperty("caller").GetString()!).ToArray());
        Assert.Equal(["admin", "admin", "technician"], all.EnumerateArray().Select(c => c.GetProperty("role").GetString()!).ToArray());
        Assert.Equal(["queued", "failed", "failed"], all.EnumerateArray().Select(c => c.GetProperty("status").GetString()!).ToArray());

        var esp1 = JsonDocument.Parse(await viewer.GetStringAsync("/api/rpc?deviceId=esp-1&limit=1")).RootElement;
        Assert.Equal([third], esp1.EnumerateArray().Select(c => c.GetProperty("id").GetString()!).ToArray());
        var one = await GetCallAsync(viewer, first);
        Assert.Equal("ping", one.GetProperty("endpoint").GetString());
        Assert.Equal("device_offline", one.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Status_reports_pending_requests_and_queued_calls()
    {
        _gateway.AddDevice("esp-1");
        using var tech = _gateway.Http(_techKey);
        await PostAsync(tech, "esp-1", new { endpoint = "ping", persistent = true });

        var status = JsonDocument.Parse(await tech.GetStringAsync("/api/status")).RootElement.GetProperty("rpc");
        Assert.Equal(0, status.GetProperty("pendingRequests").GetInt32());
        Assert.Equal(1, status.GetProperty("queuedCalls").GetInt32());
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(5)) throw new TimeoutException("condition not met");
            await Task.Delay(10);
        }
    }
}
