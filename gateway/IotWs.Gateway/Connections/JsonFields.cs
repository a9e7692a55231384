using System.Text.Json;

namespace IotWs.Gateway.Connections;

/// <summary>Reads optional fields of a received message, refusing wrong types with invalid_message.</summary>
public static class JsonFields
{
    public static string? OptionalString(JsonElement message, string name)
    {
        if (!message.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.String) throw new MessageException(IotWs.Protocol.ErrorCodes.InvalidMessage, $"Field '{name}' must be a string.");
        return e.GetString();
    }

    public static string RequiredString(JsonElement message, string name) =>
        OptionalString(message, name) is { Length: > 0 } s ? s : throw new MessageException(IotWs.Protocol.ErrorCodes.InvalidMessage, $"Field '{name}' is required and must be a non-empty string.");

    public static long? OptionalInteger(JsonElement message, string name)
    {
        if (!message.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v)) return v;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) return (long)d;
        throw new MessageException(IotWs.Protocol.ErrorCodes.InvalidMessage, $"Field '{name}' must be an integer.");
    }
}
