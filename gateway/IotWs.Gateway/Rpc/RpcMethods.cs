using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Rpc;

/// <summary>A gateway method clients call with rpc_call (the seed's registerRPCMethod), with the roles allowed to call it.</summary>
public interface IRpcMethod
{
    string Name { get; }

    bool IsAllowed(string role);

    /// <summary>Returns the rpc_response data; throw RpcException(code, message) to answer success:false.</summary>
    ValueTask<JsonNode?> InvokeAsync(ClientSession session, JsonElement parameters, CancellationToken ct);
}

/// <summary>rpc_call → rpc_response: looks the method up, checks the caller's role, and answers with the requestId.</summary>
internal sealed class RpcCallHandler : IMessageHandler
{
    private readonly FrozenDictionary<string, IRpcMethod> _methods;
    private readonly ILogger<RpcCallHandler> _logger;

    public RpcCallHandler(IEnumerable<IRpcMethod> methods, ILogger<RpcCallHandler> logger)
    {
        var map = new Dictionary<string, IRpcMethod>(StringComparer.Ordinal);
        foreach (var method in methods)
        {
            if (!map.TryAdd(method.Name, method)) throw new InvalidOperationException($"Two RPC methods named '{method.Name}'.");
        }
        _methods = map.ToFrozenDictionary(StringComparer.Ordinal);
        _logger = logger;
    }

    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.RpcCall];

    public ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        var requestId = JsonFields.RequiredString(message, Fields.RequestId);
        var name = message.TryGetProperty(Fields.Method, out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : null;
        if (name is null)
        {
            Reply(session, requestId, false, null, ErrorCodes.InvalidMessage, "rpc_call needs a string field 'method'.");
            return ValueTask.CompletedTask;
        }
        if (!_methods.TryGetValue(name, out var method))
        {
            // The seed's wording, which its clients may show as is.
            Reply(session, requestId, false, null, "Unknown method: " + name, null);
            return ValueTask.CompletedTask;
        }
        var role = session.Role ?? "";
        if (!method.IsAllowed(role))
        {
            Reply(session, requestId, false, null, ErrorCodes.Forbidden, $"Role '{role}' may not call {name}.");
            return ValueTask.CompletedTask;
        }
        // A copy: the message's buffer is reused once this handler returns, and the method may still be running.
        var parameters = message.TryGetProperty(Fields.Params, out var p) ? p.Clone() : default;
        // Not awaited: a device.call waits for a device, and that must not hold back this connection's next messages.
        // A method that completes at once (calculateAverage) still answers here, in message order.
        _ = InvokeAsync(session, requestId, method, parameters);
        return ValueTask.CompletedTask;
    }

    private async Task InvokeAsync(ClientSession session, string requestId, IRpcMethod method, JsonElement parameters)
    {
        try
        {
            var result = await method.InvokeAsync(session, parameters, session.Closing);
            Reply(session, requestId, true, result, null, null);
        }
        catch (RpcException e)
        {
            Reply(session, requestId, false, null, e.Code, e.Message);
        }
        catch (OperationCanceledException) when (session.IsClosing)
        {
            // Nobody is left to answer.
        }
        catch (Exception e)
        {
            RpcLog.MethodFailed(_logger, e, session.ClientId, method.Name);
            Reply(session, requestId, false, null, ErrorCodes.InternalError, "The gateway could not run this method.");
        }
    }

    private static void Reply(ClientSession session, string requestId, bool success, JsonNode? data, string? error, string? message) =>
        Requests.RequestRouter.SendResult(session, MessageTypes.RpcResponse, requestId, success, data, error, Fields.Message, message);
}

/// <summary>The seed's example method: the mean of params.values.</summary>
internal sealed class CalculateAverageMethod : IRpcMethod
{
    public string Name => RpcMethods.CalculateAverage;

    public bool IsAllowed(string role) => true;

    public ValueTask<JsonNode?> InvokeAsync(ClientSession session, JsonElement parameters, CancellationToken ct)
    {
        if (parameters.ValueKind != JsonValueKind.Object
            || !parameters.TryGetProperty("values", out var values)
            || values.ValueKind != JsonValueKind.Array
            || values.GetArrayLength() == 0)
        {
            throw new RpcException(ErrorCodes.ValidationFailed, "params.values must be a non-empty array of numbers.");
        }
        double sum = 0;
        var index = 0;
        foreach (var value in values.EnumerateArray())
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !double.IsFinite(number))
                throw new RpcException(ErrorCodes.ValidationFailed, $"params.values[{index}] is not a number.");
            sum += number;
            index++;
        }
        return ValueTask.FromResult<JsonNode?>(JsonValue.Create(sum / index));
    }
}

/// <summary>device.call: a technician's call to a device over the WebSocket, with the same semantics and call object as POST /api/devices/{id}/rpc.</summary>
internal sealed class DeviceCallMethod(DeviceCalls calls) : IRpcMethod
{
    public string Name => RpcMethods.DeviceCall;

    public bool IsAllowed(string role) => Roles.CanOperate(role);

    public async ValueTask<JsonNode?> InvokeAsync(ClientSession session, JsonElement parameters, CancellationToken ct)
    {
        if (parameters.ValueKind != JsonValueKind.Object
            || !parameters.TryGetProperty(Fields.DeviceId, out var d)
            || d.ValueKind != JsonValueKind.String
            || d.GetString() is not { Length: > 0 } deviceId)
        {
            throw new RpcException(ErrorCodes.ValidationFailed, "params.deviceId is required: the device to call.");
        }
        var request = calls.Parse(deviceId, parameters);
        // Not cancelled when the caller disconnects: the call goes on and its outcome is in the audit log.
        var call = await calls.CallAsync(request, new RpcCaller(session.Principal ?? session.ClientId, session.Role!), CancellationToken.None);
        return call.ToJson();
    }
}
