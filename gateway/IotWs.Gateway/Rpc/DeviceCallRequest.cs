using System.Text;
using System.Text.Json;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Rpc;

/// <summary>What a technician asked for: the body of POST /api/devices/{id}/rpc, or the params of device.call.</summary>
public sealed record DeviceCallRequest(
    string DeviceId,
    string Endpoint,
    string DataJson,
    TimeSpan Timeout,
    bool Persistent,
    TimeSpan Ttl,
    string? IdempotencyKey)
{
    public const int MaxEndpointLength = 64;
    public const int MaxIdempotencyKeyLength = 200;

    /// <summary>Reads {"endpoint","data","timeoutMs","persistent","ttlSeconds","idempotencyKey"}; throws RpcException(validation_failed) with a message a caller can act on.</summary>
    public static DeviceCallRequest Parse(string deviceId, JsonElement body, RpcOptions options, int maxPayloadSize)
    {
        if (body.ValueKind != JsonValueKind.Object) throw Invalid("The body must be a JSON object with at least 'endpoint'.");
        var endpoint = OptionalString(body, "endpoint", MaxEndpointLength) ?? throw Invalid("'endpoint' is required: the device endpoint to call, e.g. \"reboot\".");
        if (endpoint.Length == 0 || endpoint.Any(char.IsControl)) throw Invalid("'endpoint' must be a non-empty name without control characters.");

        var data = body.TryGetProperty(Fields.Data, out var d) && d.ValueKind != JsonValueKind.Null
            ? Encoding.UTF8.GetString(WireJson.Write(w => WireJson.WriteElement(w, d)))
            : "{}";
        // The request frame must fit the device's payload limit with room for the envelope.
        if (Encoding.UTF8.GetByteCount(data) > maxPayloadSize - 512)
            throw Invalid($"'data' is too large: the request must fit in {maxPayloadSize} bytes.");

        var timeout = options.DefaultTimeout;
        if (OptionalInteger(body, "timeoutMs") is { } ms)
        {
            // Compared as numbers first: a huge value must be refused, not overflow TimeSpan.
            if (ms < (long)options.MinTimeout.TotalMilliseconds || ms > (long)options.MaxTimeout.TotalMilliseconds)
                throw Invalid($"'timeoutMs' must be between {(long)options.MinTimeout.TotalMilliseconds} and {(long)options.MaxTimeout.TotalMilliseconds}.");
            timeout = TimeSpan.FromMilliseconds(ms);
        }

        var persistent = false;
        if (body.TryGetProperty("persistent", out var p) && p.ValueKind != JsonValueKind.Null)
        {
            if (p.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw Invalid("'persistent' must be true or false.");
            persistent = p.GetBoolean();
        }

        var ttl = options.DefaultTtl;
        if (OptionalInteger(body, "ttlSeconds") is { } seconds)
        {
            if (seconds < 1 || seconds > (long)options.MaxTtl.TotalSeconds)
                throw Invalid($"'ttlSeconds' must be between 1 and {(long)options.MaxTtl.TotalSeconds}.");
            ttl = TimeSpan.FromSeconds(seconds);
        }

        var key = OptionalString(body, "idempotencyKey", MaxIdempotencyKeyLength);
        if (key is { Length: 0 }) throw Invalid("'idempotencyKey' must not be empty.");
        return new DeviceCallRequest(deviceId, endpoint, data, timeout, persistent, ttl, key);
    }

    private static string? OptionalString(JsonElement body, string name, int maxLength)
    {
        if (!body.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.String) throw Invalid($"'{name}' must be a string.");
        var s = e.GetString()!;
        return s.Length <= maxLength ? s : throw Invalid($"'{name}' must be at most {maxLength} characters.");
    }

    private static long? OptionalInteger(JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v)) return v;
        throw Invalid($"'{name}' must be an integer.");
    }

    private static RpcException Invalid(string message) => new(ErrorCodes.ValidationFailed, message);
}
