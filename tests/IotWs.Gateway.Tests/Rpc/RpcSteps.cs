using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using IotWs.Gateway.Rpc;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Rpc;

/// <summary>What RPC tests do again and again: post a call, answer as the device, poll a call's status.</summary>
internal static class RpcSteps
{
    /// <summary>Settings that keep RPC tests fast: sweeps every 50 ms.</summary>
    public static readonly string[] Fast = ["Rpc:SweepInterval=00:00:00.050"];

    public static async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostAsync(HttpClient http, string deviceId, object body)
    {
        var response = await http.PostAsJsonAsync($"/api/devices/{deviceId}/rpc", body);
        return ((int)response.StatusCode, await BodyAsync(response), response);
    }

    public static async Task<(int Status, JsonElement Body)> PostRawAsync(HttpClient http, string deviceId, string json)
    {
        var response = await http.PostAsync($"/api/devices/{deviceId}/rpc", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, await BodyAsync(response));
    }

    public static async Task<JsonElement> GetCallAsync(HttpClient http, string id)
    {
        var response = await http.GetAsync($"/api/rpc/{id}");
        Assert.Equal(200, (int)response.StatusCode);
        return await BodyAsync(response);
    }

    public static async Task<JsonElement> WaitForStatusAsync(HttpClient http, string id, string status, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var call = await GetCallAsync(http, id);
            if (call.GetProperty("status").GetString() == status) return call;
            if (clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(5)))
                throw new TimeoutException($"Call {id} did not reach '{status}': {call}");
            await Task.Delay(25);
        }
    }

    /// <summary>Answers a request the way the seed's ESP32 sketch does.</summary>
    public static Task AnswerAsync(TestClient device, JsonElement request, object data) =>
        device.SendAsync(new { type = "response", requestId = request.GetProperty("requestId").GetString(), success = true, data });

    public static Task FailAsync(TestClient device, JsonElement request, string error) =>
        device.SendAsync(new { type = "response", requestId = request.GetProperty("requestId").GetString(), success = false, error });

    public static string[] Statuses(JsonElement call) =>
        call.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("status").GetString()!).ToArray();

    public static int Pending(TestGateway gateway) => gateway.Service<IDeviceRequestChannel>().PendingCount;

    private static async Task<JsonElement> BodyAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }
}
