using System.Text.Json;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Connections;

/// <summary>handshake → handshake_response: records client type, capabilities and (from our firmware) device, boot and heartbeat interval.</summary>
internal sealed class HandshakeHandler(IOptions<GatewayOptions> options) : IMessageHandler
{
    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.Handshake];

    public ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        var clientType = JsonFields.OptionalString(message, Fields.ClientType) ?? ClientTypes.Application;
        if (clientType is not (ClientTypes.Microcontroller or ClientTypes.Application or ClientTypes.Service))
            throw new MessageException(ErrorCodes.InvalidMessage, $"clientType '{clientType}' is not one of microcontroller, application, service.");
        var deviceId = JsonFields.OptionalString(message, Fields.DeviceId);
        if (session.IsAuthenticated && deviceId is not null && session.DeviceId is not null && deviceId != session.DeviceId)
            throw new MessageException(ErrorCodes.InvalidMessage, "deviceId cannot change after auth.");
        var bootId = JsonFields.OptionalInteger(message, Fields.BootId);
        var heartbeat = JsonFields.OptionalInteger(message, Fields.HeartbeatInterval);
        if (heartbeat is < 100 or > 3_600_000)
            throw new MessageException(ErrorCodes.InvalidMessage, "heartbeatInterval must be between 100 and 3600000 ms.");

        session.ClientType = clientType;
        session.Version = JsonFields.OptionalString(message, Fields.Version);
        session.ClaimedDeviceId = deviceId ?? session.ClaimedDeviceId;
        session.BootId = bootId ?? session.BootId;
        session.HeartbeatInterval = heartbeat is { } ms ? TimeSpan.FromMilliseconds(ms) : options.Value.HeartbeatInterval;
        if (message.TryGetProperty(Fields.Capabilities, out var caps) && caps.ValueKind == JsonValueKind.Array)
        {
            session.Capabilities = caps.EnumerateArray().Where(c => c.ValueKind == JsonValueKind.String).Select(c => c.GetString()!).Take(32).ToArray();
        }
        session.HandshakeDone = true;
        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.HandshakeResponse);
            w.WriteBoolean(Fields.Success, true);
            w.WriteString(Fields.ClientId, session.ClientId);
            w.WriteNumber(Fields.ProtocolVersion, ProtocolInfo.Version);
            w.WriteEndObject();
        });
        return ValueTask.CompletedTask;
    }
}

/// <summary>auth → auth_response: a device token binds the connection to its device; an API key gives a role. Failure closes with 4401.</summary>
internal sealed class AuthHandler(IdentityCache identities, ConnectionRegistry registry, GatewayEvents events, IReadingStore readings, ILogger<AuthHandler> logger) : IMessageHandler
{
    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.Auth];

    public async ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        if (session.IsAuthenticated && session.Principal != "anonymous")
            throw new MessageException(ErrorCodes.InvalidMessage, "Already authenticated.");
        var token = message.TryGetProperty(Fields.Token, out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        var identity = token is null ? null : identities.Authenticate(token);
        string? failure = identity is null ? "unknown or revoked token" : null;
        if (identity?.DeviceId is { } id && session.ClaimedDeviceId is { } claimed && claimed != id)
        {
            failure = $"token belongs to another device than '{claimed}'";
        }
        if (failure is not null)
        {
            GatewayLog.AuthFailed(logger, session.ClientId, session.RemoteAddress?.ToString(), failure);
            session.Send(w =>
            {
                w.WriteStartObject();
                w.WriteString(Fields.Type, MessageTypes.AuthResponse);
                w.WriteBoolean(Fields.Success, false);
                w.WriteString(Fields.Error, ErrorCodes.AuthFailed);
                w.WriteString(Fields.Message, token is null ? "auth needs a string field 'token'." : "Authentication failed: the token is unknown, revoked, or for another device.");
                w.WriteEndObject();
            });
            session.Close(CloseCodes.AuthFailed, "authentication failed");
            return;
        }

        session.Role = identity!.Role;
        session.Principal = identity.Principal;
        session.DeviceId = identity.DeviceId;
        session.Credential = identity;
        if (identity.DeviceId is { } deviceId)
        {
            session.ClientType = ClientTypes.Microcontroller;
            if (registry.BindDevice(deviceId, session) is { } previous)
            {
                GatewayLog.Replaced(logger, deviceId, previous.ClientId, session.ClientId);
                previous.Close(CloseCodes.Replaced, "replaced by a newer connection of the same device");
            }
        }
        GatewayLog.Authenticated(logger, session.ClientId, identity.Role, identity.Principal);
        // Extension of v1: a board whose flash was wiped boots above the boots already stored, so its readings are not taken for duplicates.
        var lastBootId = identity.DeviceId is { } device ? await readings.HighestBootIdAsync(device, ct) : null;
        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.AuthResponse);
            w.WriteBoolean(Fields.Success, true);
            w.WriteString(Fields.ClientId, session.ClientId);
            w.WriteString(Fields.Role, identity.Role);
            if (identity.DeviceId is not null) w.WriteString(Fields.DeviceId, identity.DeviceId);
            if (lastBootId is { } boot) w.WriteNumber(Fields.LastBootId, boot);
            w.WriteEndObject();
        });
        events.OnAuthenticated(session);
    }
}

/// <summary>heartbeat → heartbeat_response with the client's timestamp echoed.</summary>
internal sealed class HeartbeatHandler(GatewayEvents events, TimeProvider time) : IMessageHandler
{
    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.Heartbeat];

    public ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        session.LastSeen = time.GetUtcNow();
        var hasTimestamp = message.TryGetProperty(Fields.Timestamp, out var timestamp);
        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.HeartbeatResponse);
            if (hasTimestamp)
            {
                w.WritePropertyName(Fields.Timestamp);
                WireJson.WriteElement(w, timestamp);
            }
            w.WriteString(Fields.ServerTime, WireJson.Time(time.GetUtcNow()));
            w.WriteEndObject();
        });
        if (session.IsAuthenticated) events.OnHeartbeat(session, message);
        return ValueTask.CompletedTask;
    }
}
