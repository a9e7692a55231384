using System.Text;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Wire;

namespace IotWs.Gateway.Tests.Wire;

/// <summary>
/// Issue 12 item 1: half a surrogate pair spelled as a JSON escape ("\ud800", six characters on the wire) is read as
/// U+FFFD wherever it stands; the message gets its ordinary answer, the connection stays open and nothing is logged
/// at error level. Every message here goes over a real socket to a real gateway.
/// </summary>
public sealed class LoneSurrogateTests : IAsyncLifetime
{
    private const string Replacement = "\uFFFD";
    private readonly CapturedLogs _logs = new();
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(null, _logs.AddTo);

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        Assert.Empty(_logs.Errors);
    }

    [Fact]
    public async Task A_lone_surrogate_as_the_type_is_an_unknown_type_and_the_connection_stays_open()
    {
        await using var client = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("technician"));
        await client.SendTextAsync("""{"type":"\udc00"}""");
        var error = await client.ReceiveAsync("error");
        Assert.Equal("unknown_type", error.GetProperty("code").GetString());
        Assert.Contains(Replacement, error.GetProperty("message").GetString());
        await AssertStillAnswers(client);
    }

    [Fact]
    public async Task A_lone_surrogate_as_the_type_before_auth_is_not_authenticated_and_the_connection_stays_open()
    {
        await using var client = await _gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        await client.SendTextAsync("""{"type":"\ud800","requestId":"r\udfff"}""");
        var error = await client.ReceiveAsync("error");
        Assert.Equal("not_authenticated", error.GetProperty("code").GetString());
        Assert.Equal("r" + Replacement, error.GetProperty("requestId").GetString());
        await AssertStillAnswers(client);
    }

    [Fact]
    public async Task A_heartbeat_with_a_lone_surrogate_request_id_is_answered()
    {
        await using var client = await _gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        await client.SendTextAsync("""{"type":"heartbeat","requestId":"\ud800","timestamp":"t\udbff"}""");
        var response = await client.ReceiveAsync("heartbeat_response");
        Assert.Equal("t" + Replacement, response.GetProperty("timestamp").GetString());
        await AssertStillAnswers(client);
    }

    [Fact]
    public async Task A_lone_surrogate_token_before_auth_fails_authentication_with_4401()
    {
        await using var client = await _gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        await client.SendTextAsync("""{"type":"auth","token":"\ud800"}""");
        var auth = await client.ReceiveAsync("auth_response");
        Assert.False(auth.GetProperty("success").GetBoolean());
        Assert.Equal("auth_failed", auth.GetProperty("error").GetString());
        Assert.Equal(4401, await client.WaitClosedAsync());
    }

    [Fact]
    public async Task A_lone_surrogate_device_id_in_the_handshake_is_refused_as_validation_failed()
    {
        await using var client = await _gateway.ConnectAsync();
        await client.ReceiveAsync("welcome");
        await client.SendTextAsync("""{"type":"handshake","clientType":"microcontroller","deviceId":"esp-\ud800","bootId":1}""");
        var error = await client.ReceiveAsync("error");
        Assert.Equal("validation_failed", error.GetProperty("code").GetString());
        await AssertStillAnswers(client);
    }

    [Fact]
    public async Task A_lone_surrogate_sensor_id_is_stored_as_U_FFFD()
    {
        var token = _gateway.AddDevice("esp-sur");
        await using var device = await _gateway.ConnectDeviceAsync("esp-sur", token);
        await device.SendTextAsync("""{"type":"data","dataType":"sensor","data":{"temperature":21.5,"humidity":40,"sensor_id":"dht\udc00","location":"\ud83d\ude00 \ud83d"},"seq":1,"bootId":1}""");
        var ack = await device.ReceiveAsync("data_response");
        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());

        using var http = _gateway.Http(_gateway.AddKey("viewer"));
        var readings = JsonDocument.Parse(await http.GetStringAsync("/api/devices/esp-sur/readings")).RootElement;
        var reading = Assert.Single(readings.EnumerateArray());
        Assert.Equal("dht" + Replacement, reading.GetProperty("sensor_id").GetString());
        // A pair spelled as two escapes is one real character and is kept.
        Assert.Equal("\U0001F600 " + Replacement, reading.GetProperty("location").GetString());
        await AssertStillAnswers(device);
    }

    [Fact]
    public async Task Lone_surrogates_in_a_topic_and_in_published_data_reach_subscribers_as_U_FFFD()
    {
        var key = _gateway.AddKey("technician");
        await using var subscriber = await _gateway.ConnectWithKeyAsync(key);
        await using var publisher = await _gateway.ConnectWithKeyAsync(key);
        await subscriber.SendTextAsync("""{"type":"subscribe","topic":"lab/\udc00/#"}""");
        var subscribed = await subscriber.ReceiveAsync("subscribe_response");
        Assert.True(subscribed.GetProperty("success").GetBoolean(), subscribed.ToString());
        Assert.Equal("lab/" + Replacement + "/#", subscribed.GetProperty("topic").GetString());

        await publisher.SendTextAsync("""{"type":"publish","topic":"lab/\udc00/x","data":{"\ud800key":"value \udfff","list":["\ud800"]}}""");
        var message = await subscriber.ReceiveAsync("publish");
        Assert.Equal("lab/" + Replacement + "/x", message.GetProperty("topic").GetString());
        var data = message.GetProperty("data");
        Assert.Equal("value " + Replacement, data.GetProperty(Replacement + "key").GetString());
        Assert.Equal(Replacement, data.GetProperty("list")[0].GetString());
        await AssertStillAnswers(publisher);
    }

    [Fact]
    public async Task An_event_with_lone_surrogates_in_its_data_is_stored_and_acknowledged()
    {
        await using var client = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("technician"));
        await client.SendTextAsync("""{"type":"data","dataType":"application","data":{"note":"\ud800","\udc00":1},"requestId":"\ud800"}""");
        var ack = await client.ReceiveAsync("data_response");
        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        await AssertStillAnswers(client);
    }

    [Fact]
    public async Task A_request_and_an_rpc_call_with_lone_surrogates_get_their_ordinary_answers()
    {
        await using var client = await _gateway.ConnectWithKeyAsync(_gateway.AddKey("technician"));
        await client.SendTextAsync("""{"type":"request","requestId":"q\ud800","endpoint":"get_\udc00","data":{"deviceId":"\ud800"}}""");
        var response = await client.ReceiveAsync("response");
        Assert.False(response.GetProperty("success").GetBoolean());
        Assert.Equal("q" + Replacement, response.GetProperty("requestId").GetString());

        await client.SendTextAsync("""{"type":"request","requestId":"q2","endpoint":"get_readings","data":{"deviceId":"\ud800","resolution":"\udc00"}}""");
        var readings = await client.ReceiveAsync("response");
        Assert.False(readings.GetProperty("success").GetBoolean());
        Assert.Equal("validation_failed", readings.GetProperty("code").GetString());

        await client.SendTextAsync("""{"type":"rpc_call","requestId":"c\ud800","method":"device.call","params":{"deviceId":"\ud800","endpoint":"\udc00"}}""");
        var rpc = await client.ReceiveAsync("rpc_response");
        Assert.False(rpc.GetProperty("success").GetBoolean());
        Assert.NotEqual("internal_error", rpc.GetProperty("error").GetString());
        await AssertStillAnswers(client);
    }

    [Fact]
    public async Task Lone_surrogates_in_http_bodies_are_refused_or_answered_never_a_server_error()
    {
        using var anonymous = _gateway.Http();
        var login = await anonymous.PostAsync("/api/session", new StringContent("""{"code":"iwl_\ud800"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, login.StatusCode);
        Assert.Equal("application/problem+json", login.Content.Headers.ContentType?.MediaType);

        _gateway.AddDevice("esp-http");
        using var technician = _gateway.Http(_gateway.AddKey("technician"));
        var call = await technician.PostAsync("/api/devices/esp-http/rpc", new StringContent("""{"endpoint":"ping\udc00","data":{"\ud800":"\udfff"},"idempotencyKey":"k\ud800"}""", Encoding.UTF8, "application/json"));
        Assert.True((int)call.StatusCode < 500, $"{(int)call.StatusCode}: {await call.Content.ReadAsStringAsync()}");
        JsonDocument.Parse(await call.Content.ReadAsStringAsync()).Dispose();
    }

    [Theory]
    [InlineData("""{"a":"\ud800"}""", """{"a":"\uFFFD"}""")]
    [InlineData("""{"a":"\udc00\ud800"}""", """{"a":"\uFFFD\uFFFD"}""")]
    [InlineData("""{"a":"\ud83d\ude00"}""", """{"a":"\ud83d\ude00"}""")]
    [InlineData("""{"a":"\ud83d\ud83d\ude00"}""", """{"a":"\uFFFD\ud83d\ude00"}""")]
    [InlineData("""{"a":"\\ud800"}""", """{"a":"\\ud800"}""")]
    [InlineData("""{"\uD800x":"\\\ud800"}""", """{"\uFFFDx":"\\\uFFFD"}""")]
    [InlineData("""{"a":"\ud80""", """{"a":"\ud80""")]
    [InlineData("""\ud800""", """\ud800""")]
    public void Lone_surrogate_escapes_inside_strings_are_rewritten_in_place_and_nothing_else(string input, string expected)
    {
        var bytes = Encoding.UTF8.GetBytes(input);
        WireMessage.ReplaceLoneSurrogateEscapes(bytes);
        Assert.Equal(expected, Encoding.UTF8.GetString(bytes));
    }

    /// <summary>The connection is open and in order: a heartbeat sent now is answered.</summary>
    private static async Task AssertStillAnswers(TestClient client)
    {
        await client.SendTextAsync("""{"type":"heartbeat","timestamp":"still-open"}""");
        await client.ReceiveAsync("heartbeat_response", where: m => m.GetProperty("timestamp").GetString() == "still-open");
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, client.State);
    }
}
