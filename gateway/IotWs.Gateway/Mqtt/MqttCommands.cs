using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Rpc;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Mqtt;

/// <summary>
/// Technician commands over MQTT: {prefix}/{deviceId}/command/{endpoint} with the body POST /api/devices/{id}/rpc
/// takes (endpoint from the topic; empty payload = {}), run through the same <see cref="DeviceCalls"/> as REST,
/// audited under the API key Gateway:Mqtt:Commands:ApiKeyName names. The answer is the call object, or
/// {"error","message"} when no call was made.
/// </summary>
internal sealed partial class MqttCommands(
    DeviceCalls calls,
    IdentityStore identities,
    IOptions<MqttBridgeOptions> options,
    ILogger<MqttCommands> logger)
{
    private const int MaxPayloadBytes = 64 * 1024;
    private readonly MqttCommandOptions _options = options.Value.Commands;

    public bool Enabled => _options.Enabled;

    /// <summary>Runs one command and returns the JSON to publish on its result topic; never throws.</summary>
    public async Task<byte[]> RunAsync(string deviceId, string endpoint, byte[] payload, CancellationToken ct)
    {
        try
        {
            var caller = Caller();
            var request = Parse(deviceId, endpoint, payload);
            var call = await calls.CallAsync(request, caller, ct);
            LogCommand(logger, endpoint, deviceId, caller.Principal, call.Id, call.Status);
            return Encoding.UTF8.GetBytes(WireJson.ToText(call.ToJson()));
        }
        catch (RpcException e)
        {
            LogRefused(logger, endpoint, deviceId, e.Code, e.Message);
            return Encoding.UTF8.GetBytes(WireJson.ToText(new JsonObject { [Fields.Error] = e.Code, [Fields.Message] = e.Message }));
        }
    }

    private RpcCaller Caller()
    {
        var name = _options.ApiKeyName;
        // Looked up on every command, so revoking the key (or changing its role) takes effect at once.
        var key = identities.ListKeys().FirstOrDefault(k => k.Name == name && !k.Revoked)
            ?? throw new RpcException(ErrorCodes.Forbidden, $"Gateway:Mqtt:Commands:ApiKeyName '{name}' is not an active API key: add it with 'keys add {name} --role technician'.");
        if (!Roles.CanOperate(key.Role))
            throw new RpcException(ErrorCodes.Forbidden, $"API key '{name}' has role '{key.Role}', which may not call devices.");
        return new RpcCaller(key.Name, key.Role);
    }

    private DeviceCallRequest Parse(string deviceId, string endpoint, byte[] payload)
    {
        if (payload.Length > MaxPayloadBytes) throw new RpcException(ErrorCodes.ValidationFailed, $"The command is larger than {MaxPayloadBytes} bytes.");
        JsonObject body;
        try
        {
            // Read as a frame is: lone surrogate escapes as U+FFFD, so reading a string of it cannot throw.
            var json = payload.ToArray();
            Wire.WireMessage.ReplaceLoneSurrogateEscapes(json);
            body = payload.Length == 0 ? [] : JsonNode.Parse(json) as JsonObject
                ?? throw new RpcException(ErrorCodes.ValidationFailed, "The payload must be a JSON object (or empty).");
        }
        catch (JsonException e)
        {
            throw new RpcException(ErrorCodes.ValidationFailed, "The payload is not valid JSON: " + e.Message);
        }
        if (body.TryGetPropertyValue("endpoint", out var named) && named?.GetValueKind() == JsonValueKind.String && named.GetValue<string>() != endpoint)
            throw new RpcException(ErrorCodes.ValidationFailed, $"The payload names endpoint '{named}', the topic '{endpoint}'.");
        body["endpoint"] = endpoint;
        using var document = JsonDocument.Parse(body.ToJsonString());
        return calls.Parse(deviceId, document.RootElement);
    }

    [LoggerMessage(51, LogLevel.Information, "MQTT command {Endpoint} for {DeviceId} as {Caller}: call {CallId} is {Status}")]
    private static partial void LogCommand(ILogger logger, string endpoint, string deviceId, string caller, string callId, string status);

    [LoggerMessage(52, LogLevel.Warning, "MQTT command {Endpoint} for {DeviceId} refused ({Error}): {Reason}")]
    private static partial void LogRefused(ILogger logger, string endpoint, string deviceId, string error, string reason);
}
