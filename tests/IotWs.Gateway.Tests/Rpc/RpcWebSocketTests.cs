using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;
using static IotWs.Gateway.Tests.Rpc.RpcSteps;

namespace IotWs.Gateway.Tests.Rpc;

/// <summary>rpc_call over the WebSocket: the seed's calculateAverage and device.call with roles.</summary>
public sealed class RpcWebSocketTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(null, Fast);
    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task CalculateAverage_answers_the_mean_as_in_the_seed()
    {
        await using var client = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("viewer"));

        await client.SendAsync(new { type = "rpc_call", requestId = "rpc_456", method = "calculateAverage", @params = new { values = new[] { 10, 20, 30, 40, 50 } } });
        var response = await client.ReceiveAsync("rpc_response");

        Assert.Equal("""{"type":"rpc_response","requestId":"rpc_456","success":true,"data":30}""", client.RawMessages.Last());
        Assert.Equal(30, response.GetProperty("data").GetDouble());
    }

    [Theory]
    [InlineData("""{"values":[]}""")]
    [InlineData("""{"values":[1,"two",3]}""")]
    [InlineData("""{"values":5}""")]
    [InlineData("""{}""")]
    public async Task CalculateAverage_refuses_values_that_are_not_a_non_empty_list_of_numbers(string parameters)
    {
        await using var client = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("viewer"));

        await client.SendTextAsync($$"""{"type":"rpc_call","requestId":"r1","method":"calculateAverage","params":{{parameters}}}""");
        var response = await client.ReceiveAsync("rpc_response");

        Assert.Equal("r1", response.GetProperty("requestId").GetString());
        Assert.False(response.GetProperty("success").GetBoolean());
        Assert.Equal("validation_failed", response.GetProperty("error").GetString());
        Assert.False(string.IsNullOrEmpty(response.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Unknown_method_is_answered_in_the_seeds_words()
    {
        await using var client = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("technician"));

        await client.SendAsync(new { type = "rpc_call", requestId = "r9", method = "turnOnLight", @params = new { roomId = 1 } });
        var response = await client.ReceiveAsync("rpc_response");

        Assert.False(response.GetProperty("success").GetBoolean());
        Assert.Equal("Unknown method: turnOnLight", response.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Viewer_calling_device_call_is_forbidden_and_nothing_reaches_the_device()
    {
        var token = _gateway.AddDevice("esp-1");
        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        await using var client = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("viewer"));

        await client.SendAsync(new { type = "rpc_call", requestId = "r1", method = "device.call", @params = new { deviceId = "esp-1", endpoint = "reboot" } });
        var response = await client.ReceiveAsync("rpc_response");

        Assert.False(response.GetProperty("success").GetBoolean());
        Assert.Equal("forbidden", response.GetProperty("error").GetString());
        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(200)));
        using var http = _gateway.Http(_gateway.AddKey("technician"));
        Assert.Equal("[]", await http.GetStringAsync("/api/rpc"));
    }

    [Fact]
    public async Task Technician_device_call_returns_the_same_call_object_as_rest_and_is_audited()
    {
        var token = _gateway.AddDevice("esp-1");
        await using var device = await _gateway.ConnectDeviceAsync("esp-1", token);
        await using var client = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("technician", "tech-ws"));

        await client.SendAsync(new { type = "rpc_call", requestId = "r1", method = "device.call", @params = new { deviceId = "esp-1", endpoint = "ping", data = new { n = 1 }, timeoutMs = 5000 } });
        var request = await device.ReceiveAsync("request");
        // The connection keeps working while the device has not answered yet.
        await client.SendAsync(new { type = "rpc_call", requestId = "r2", method = "calculateAverage", @params = new { values = new[] { 1, 2 } } });
        Assert.Equal(1.5, (await client.ReceiveAsync("rpc_response", where: r => r.GetProperty("requestId").GetString() == "r2")).GetProperty("data").GetDouble());
        await AnswerAsync(device, request, new { pong = true });
        var response = await client.ReceiveAsync("rpc_response", where: r => r.GetProperty("requestId").GetString() == "r1");

        Assert.True(response.GetProperty("success").GetBoolean());
        var call = response.GetProperty("data");
        Assert.Equal("succeeded", call.GetProperty("status").GetString());
        Assert.Equal("tech-ws", call.GetProperty("caller").GetString());
        Assert.Equal("technician", call.GetProperty("role").GetString());
        Assert.True(call.GetProperty("result").GetProperty("pong").GetBoolean());
        using var http = _gateway.Http(_gateway.AddKey("technician"));
        var stored = await GetCallAsync(http, call.GetProperty("id").GetString()!);
        Assert.Equal(call.ToString(), stored.ToString());
    }

    [Fact]
    public async Task Device_call_reports_unknown_devices_and_bad_params_as_failures()
    {
        await using var client = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("admin"));

        await client.SendAsync(new { type = "rpc_call", requestId = "r1", method = "device.call", @params = new { deviceId = "esp-nobody", endpoint = "ping" } });
        await client.SendAsync(new { type = "rpc_call", requestId = "r2", method = "device.call", @params = new { endpoint = "ping" } });
        var unknown = await client.ReceiveAsync("rpc_response", where: r => r.GetProperty("requestId").GetString() == "r1");
        var bad = await client.ReceiveAsync("rpc_response", where: r => r.GetProperty("requestId").GetString() == "r2");

        Assert.Equal("not_found", unknown.GetProperty("error").GetString());
        Assert.Equal("validation_failed", bad.GetProperty("error").GetString());
    }
}
