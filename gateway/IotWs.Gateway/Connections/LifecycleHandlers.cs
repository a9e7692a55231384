using System.Text.Json;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Connections;

/// <summary>
/// handshake → handshake_response: records client type, capabilities and (from our firmware) device, boot and heartbeat
/// interval. Every field is checked as a reading's are (validation_failed, nothing applied). After auth a handshake is
/// refused (invalid_message), except a device announcing a higher bootId (the lastBootId extension): only that is taken.
/// </summary>
internal sealed class HandshakeHandler(IOptions<GatewayOptions> options) : IMessageHandler
{
    public const int MaxCapabilities = 32;
    public const int MaxNameLength = 64;
    public const long MinHeartbeatMs = 100;
    public const long MaxHeartbeatMs = 3_600_000;

    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.Handshake];

    public ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        var clientType = Text(message, Fields.ClientType) ?? ClientTypes.Application;
        if (clientType is not (ClientTypes.Microcontroller or ClientTypes.Application or ClientTypes.Service))
            throw Invalid($"clientType '{WireJson.Clean(Shorten(clientType))}' is not one of microcontroller, application, service");
        var deviceId = Text(message, Fields.DeviceId);
        if (deviceId is not null && !IdentityStore.IsValidId(deviceId))
            throw Invalid($"deviceId '{WireJson.Clean(Shorten(deviceId))}' must be 1-64 letters, digits, '_', '.', ':' or '-' (starting with a letter or digit)");
        if (!Readings.ReadingParser.TryInteger(message, Fields.BootId, out var bootId, out var error)) throw Invalid(error);
        if (!Readings.ReadingParser.TryInteger(message, Fields.HeartbeatInterval, out var heartbeat, out error)) throw Invalid(error);
        if (heartbeat is < MinHeartbeatMs or > MaxHeartbeatMs)
            throw Invalid($"heartbeatInterval {heartbeat} must be between {MinHeartbeatMs} and {MaxHeartbeatMs} ms");
        var version = Text(message, Fields.Version);
        if (version is { Length: > MaxNameLength }) throw Invalid($"version is {version.Length} characters long; at most {MaxNameLength}");
        var capabilities = Capabilities(message);

        if (session.Credential is not null)
        {
            // The session is settled by auth. Our firmware, moved above a lost boot counter by auth_response's lastBootId,
            // announces its new boot this way; nothing else may change (clientType, heartbeat interval, device).
            if (!session.IsDevice || bootId is not { } newBoot || newBoot <= (session.BootId ?? -1) || (deviceId is not null && deviceId != session.DeviceId))
                throw new MessageException(ErrorCodes.InvalidMessage, "A handshake comes before auth; after auth only a device may announce a higher bootId. Nothing was changed.");
            session.BootId = newBoot;
            Respond(session);
            return ValueTask.CompletedTask;
        }

        session.ClientType = clientType;
        session.Version = version;
        session.ClaimedDeviceId = deviceId ?? session.ClaimedDeviceId;
        session.BootId = bootId ?? session.BootId;
        session.HeartbeatInterval = heartbeat is { } ms ? TimeSpan.FromMilliseconds(ms) : options.Value.HeartbeatInterval;
        if (capabilities is not null) session.Capabilities = capabilities;
        session.HandshakeDone = true;
        Respond(session);
        return ValueTask.CompletedTask;
    }

    private static void Respond(ClientSession session) =>
        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.HandshakeResponse);
            w.WriteBoolean(Fields.Success, true);
            w.WriteString(Fields.ClientId, session.ClientId);
            w.WriteNumber(Fields.ProtocolVersion, ProtocolInfo.Version);
            w.WriteEndObject();
        });

    private static string[]? Capabilities(JsonElement message)
    {
        if (!message.TryGetProperty(Fields.Capabilities, out var caps) || caps.ValueKind == JsonValueKind.Null) return null;
        if (caps.ValueKind != JsonValueKind.Array) throw Invalid("capabilities must be an array of strings");
        var count = caps.GetArrayLength();
        if (count > MaxCapabilities) throw Invalid($"capabilities lists {count} names; at most {MaxCapabilities}");
        var names = new string[count];
        var i = 0;
        foreach (var c in caps.EnumerateArray())
        {
            if (c.ValueKind != JsonValueKind.String) throw Invalid($"capabilities[{i}] must be a string");
            var name = c.GetString()!;
            if (name.Length is 0 or > MaxNameLength) throw Invalid($"capabilities[{i}] must be 1-{MaxNameLength} characters long");
            names[i++] = name;
        }
        return names;
    }

    private static string? Text(JsonElement message, string name)
    {
        if (!message.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind == JsonValueKind.String ? e.GetString() : throw Invalid($"{name} must be a string");
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";

    private static MessageException Invalid(string why) => new(ErrorCodes.ValidationFailed, "Handshake refused, nothing applied: " + why + ".");
}

/// <summary>auth → auth_response: a device token binds the connection to its device; an API key gives a role. Failure closes with 4401.</summary>
internal sealed class AuthHandler(IdentityCache identities, ConnectionRegistry registry, Cluster.DeviceOwnership owners, GatewayEvents events, IReadingStore readings, TimeProvider time, ILogger<AuthHandler> logger) : IMessageHandler
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
            GatewayLog.AuthFailed(logger, session.ClientId, GatewayLog.Remote(session.RemoteAddress), failure);
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
        session.AuthenticatedAt = time.GetUtcNow();
        if (identity.DeviceId is { } deviceId)
        {
            session.ClientType = ClientTypes.Microcontroller;
            if (registry.BindDevice(deviceId, session) is { } previous)
            {
                GatewayLog.Replaced(logger, deviceId, previous.ClientId, session.ClientId);
                previous.Close(CloseCodes.Replaced, "replaced by a newer connection of the same device");
            }
            // In a cluster the other nodes close theirs the same way (4409), unless a newer one elsewhere was first.
            if (!owners.Claim(session)) return;
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
