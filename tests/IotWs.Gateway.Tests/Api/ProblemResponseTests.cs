using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using IotWs.Gateway.Storage.Sqlite;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Tests.Api;

/// <summary>Issue 12 item 11: every error answer is application/problem+json with its status and a detail.</summary>
public sealed class ProblemResponseTests
{
    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? detailContains = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        var what = $"{response.RequestMessage!.Method} {response.RequestMessage.RequestUri!.PathAndQuery}";
        Assert.True(status == response.StatusCode, $"{what}: expected {(int)status}, got {(int)response.StatusCode} {body}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{what}: content type {response.Content.Headers.ContentType} body '{body}'");
        using var problem = JsonDocument.Parse(body);
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.RootElement.GetProperty("title").GetString()), what);
        var detail = problem.RootElement.GetProperty("detail").GetString();
        Assert.False(string.IsNullOrWhiteSpace(detail), $"{what}: no detail in {body}");
        if (detailContains is not null) Assert.Contains(detailContains, detail, StringComparison.Ordinal);
    }

    private static object PersistentPing(string key) =>
        new { endpoint = "ping", data = new { }, persistent = true, ttlSeconds = 300, idempotencyKey = key };

    [Fact]
    public async Task Every_kind_of_error_answers_a_problem_with_a_detail()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Rpc:MaxQueuedPerDevice=1");
        gateway.AddDevice("esp-problem");
        var viewer = gateway.Http(gateway.AddKey("viewer"));
        var technician = gateway.Http(gateway.AddKey("technician"));
        var anonymous = gateway.Http();

        // 400: a route value the framework cannot bind (its BadHttpRequestException names the parameter), a number the
        // handler cannot parse, and the handlers' own refusals.
        await AssertProblemAsync(await technician.PostAsync("/api/alerts/abc/ack", null), HttpStatusCode.BadRequest, "Failed to bind parameter \"long id\" from \"abc\"");
        await AssertProblemAsync(await viewer.GetAsync("/api/alerts?limit=abc"), HttpStatusCode.BadRequest, "limit");
        await AssertProblemAsync(await viewer.GetAsync("/api/alerts?state=maybe"), HttpStatusCode.BadRequest, "state");
        await AssertProblemAsync(await viewer.GetAsync("/api/devices/esp-problem/readings?from=yesterday"), HttpStatusCode.BadRequest, "'from'");
        await AssertProblemAsync(await gateway.Http(gateway.AddKey("technician")).GetAsync("/api/rpc?limit=0"), HttpStatusCode.BadRequest, "limit");
        await AssertProblemAsync(await technician.PostAsync("/api/devices/esp-problem/rpc", new StringContent("{not json", null, "application/json")), HttpStatusCode.BadRequest, "JSON");

        // 401 and 403
        await AssertProblemAsync(await anonymous.GetAsync("/api/status"), HttpStatusCode.Unauthorized);
        await AssertProblemAsync(await gateway.Http("iwk_not-a-key").GetAsync("/api/devices"), HttpStatusCode.Unauthorized);
        await AssertProblemAsync(await viewer.PostAsJsonAsync("/api/devices/esp-problem/rpc", PersistentPing("k0")), HttpStatusCode.Forbidden);

        // 404: no route, no file, no such device or call.
        await AssertProblemAsync(await viewer.GetAsync("/api/nothing-here"), HttpStatusCode.NotFound, "/api/nothing-here");
        await AssertProblemAsync(await anonymous.GetAsync("/js/missing.js"), HttpStatusCode.NotFound);
        await AssertProblemAsync(await viewer.GetAsync("/api/devices/nope"), HttpStatusCode.NotFound, "nope");
        await AssertProblemAsync(await gateway.Http(gateway.AddKey("technician")).GetAsync("/api/rpc/no-such-call"), HttpStatusCode.NotFound);

        // 405: a route that exists, with the wrong method.
        await AssertProblemAsync(await viewer.PostAsync("/api/status", null), HttpStatusCode.MethodNotAllowed, "GET");
        await AssertProblemAsync(await viewer.DeleteAsync("/api/devices"), HttpStatusCode.MethodNotAllowed);

        // 409: an idempotencyKey reused for another call; 429: the offline device's queue is full (1 here).
        var queued = await technician.PostAsJsonAsync("/api/devices/esp-problem/rpc", PersistentPing("k1"));
        Assert.Equal(HttpStatusCode.Accepted, queued.StatusCode);
        await AssertProblemAsync(await technician.PostAsJsonAsync("/api/devices/esp-problem/rpc",
            new { endpoint = "identify", data = new { }, persistent = true, ttlSeconds = 300, idempotencyKey = "k1" }), HttpStatusCode.Conflict, "k1");
        await AssertProblemAsync(await technician.PostAsJsonAsync("/api/devices/esp-problem/rpc", PersistentPing("k2")), (HttpStatusCode)429);

        // 500: the audit table is gone (an operator's sqlite3 slip); the answer says so without the exception.
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(gateway.DataDir, SqliteDatabase.FileName)}"))
        {
            connection.Open();
            using var drop = connection.CreateCommand();
            drop.CommandText = "DROP TABLE rpc_calls";
            drop.ExecuteNonQuery();
        }
        var failed = await gateway.Http(gateway.AddKey("technician")).GetAsync("/api/rpc");
        await AssertProblemAsync(failed, HttpStatusCode.InternalServerError, "log");
        Assert.DoesNotContain("SqliteException", await failed.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The gateway is still up.
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync("/api/devices")).StatusCode);
    }
}
