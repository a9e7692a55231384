using System.Text.RegularExpressions;
using IotWs.Gateway.Storage;
using IotWs.Protocol;

namespace IotWs.Gateway.Identity;

/// <summary>A provisioned device as the registry keeps it (never with its token).</summary>
public sealed record DeviceRecord(string DeviceId, string? Name, string? Location, DateTimeOffset CreatedAt, bool Revoked);

/// <summary>An API key's public part.</summary>
public sealed record ApiKeyRecord(string Name, string Role, DateTimeOffset CreatedAt, bool Revoked);

/// <summary>Who a token or key turned out to be.</summary>
public sealed record Identity(string Role, string Principal, string? DeviceId)
{
    /// <summary>The stored hash (base64) of the secret this identity was proven with: what revocation is checked against.</summary>
    public string Credential { get; init; } = "";

    /// <summary>When a login session ends; null for API keys and device tokens.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>True for a browser session made from a login link (revocable by itself).</summary>
    public bool IsLoginSession => ExpiresAt is not null;
}

/// <summary>A login link's one-time code as printed by <c>keys login-link</c>.</summary>
public sealed record LoginCode(string KeyName, string Role, string Code, DateTimeOffset ExpiresAt);

/// <summary>A browser session a login code was exchanged for.</summary>
public sealed record LoginSession(string Token, Identity Identity);

/// <summary>
/// Device tokens, role-scoped API keys and login sessions: makes the secrets, checks names and roles, and keeps
/// only their hashes, through the storage seam <see cref="ICredentialStore"/>.
/// </summary>
public sealed partial class IdentityStore(ICredentialStore credentials)
{
    /// <summary>How long a login link's code can be redeemed.</summary>
    public static readonly TimeSpan LoginCodeLifetime = TimeSpan.FromMinutes(10);

    /// <summary>Raised after this instance changed a device, key or session (other processes are seen through <see cref="Version"/>).</summary>
    public event Action? Changed;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
    private static partial Regex IdPattern();

    /// <summary>Device ids and key names: 1–64 of letters, digits, '_', '.', ':', '-' (they appear in topics and file names).</summary>
    public static bool IsValidId(string id) => IdPattern().IsMatch(id);

    public string AddDevice(string deviceId, string? name, string? location)
    {
        if (!IsValidId(deviceId)) throw new IdentityException($"'{deviceId}' is not a valid device id: use 1-64 letters, digits, '_', '.', ':' or '-'.");
        var token = Secrets.NewSecret(Secrets.DeviceTokenPrefix);
        if (!credentials.InsertDevice(deviceId, name, location, Secrets.Hash(token), DateTimeOffset.UtcNow))
            throw new IdentityException($"Device '{deviceId}' already exists; use 'devices rotate-token {deviceId}' for a new token.");
        Changed?.Invoke();
        return token;
    }

    public string RotateToken(string deviceId)
    {
        var token = Secrets.NewSecret(Secrets.DeviceTokenPrefix);
        if (!credentials.ReplaceDeviceToken(deviceId, Secrets.Hash(token))) throw new IdentityException($"No device '{deviceId}'.");
        Changed?.Invoke();
        return token;
    }

    public void RevokeDevice(string deviceId)
    {
        if (!credentials.RevokeDevice(deviceId)) throw new IdentityException($"No device '{deviceId}'.");
        Changed?.Invoke();
    }

    public IReadOnlyList<DeviceRecord> ListDevices() => credentials.ListDevices().Select(ToRecord).ToList();

    public DeviceRecord? FindDevice(string deviceId) => credentials.FindDevice(deviceId) is { } row ? ToRecord(row) : null;

    public string AddKey(string name, string role)
    {
        if (!IsValidId(name)) throw new IdentityException($"'{name}' is not a valid key name: use 1-64 letters, digits, '_', '.', ':' or '-'.");
        if (!Roles.IsKeyRole(role)) throw new IdentityException($"'{role}' is not a role: use viewer, technician or admin.");
        var key = Secrets.NewSecret(Secrets.ApiKeyPrefix);
        if (!credentials.InsertKey(name, role, Secrets.Hash(key), DateTimeOffset.UtcNow))
            throw new IdentityException($"A key named '{name}' already exists.");
        Changed?.Invoke();
        return key;
    }

    public void RevokeKey(string name)
    {
        if (!credentials.RevokeKey(name)) throw new IdentityException($"No key named '{name}'.");
        Changed?.Invoke();
    }

    public IReadOnlyList<ApiKeyRecord> ListKeys() =>
        credentials.ListKeys().Select(k => new ApiKeyRecord(k.Name, k.Role, k.CreatedAt, k.Revoked)).ToList();

    public bool HasActiveAdminKey() => credentials.HasActiveAdminKey();

    /// <summary>The change counter: it moves whenever a device, key or login session is written, by any process.</summary>
    public long Version() => credentials.Version();

    /// <summary>Every credential that can authenticate now (active devices, keys and unexpired sessions of active keys), read in one transaction with the version it belongs to.</summary>
    public (long Version, IReadOnlyList<Identity> Identities) LoadActive(DateTimeOffset now)
    {
        var (version, active) = credentials.LoadActive(now);
        var list = new List<Identity>(active.Count);
        foreach (var c in active)
        {
            var credential = Convert.ToBase64String(c.Hash);
            list.Add(c.Kind == CredentialKind.DeviceToken
                ? new Identity(Roles.Device, "device:" + c.Name, c.Name) { Credential = credential }
                : new Identity(c.Role, c.Name, null) { Credential = credential, ExpiresAt = c.ExpiresAt });
        }
        return (version, list);
    }

    /// <summary>A one-time login code for an active key, redeemable for <see cref="LoginCodeLifetime"/>. Only its hash is stored.</summary>
    public LoginCode CreateLoginCode(string keyName, DateTimeOffset now)
    {
        var key = ListKeys().FirstOrDefault(k => k.Name == keyName) ?? throw new IdentityException($"No key named '{keyName}'.");
        if (key.Revoked) throw new IdentityException($"Key '{keyName}' is revoked: a login link would not work.");
        var code = Secrets.NewSecret(Secrets.LoginCodePrefix);
        var expires = now + LoginCodeLifetime;
        credentials.InsertLoginCode(Secrets.Hash(code), keyName, expires, now);
        return new LoginCode(keyName, key.Role, code, expires);
    }

    /// <summary>Exchanges a login code (once, before it expires, while its key is active) for a session token; null when the code does not qualify.</summary>
    public LoginSession? RedeemLoginCode(string code, DateTimeOffset now, TimeSpan sessionLifetime)
    {
        if (string.IsNullOrEmpty(code) || code.Length > 200) return null;
        var token = Secrets.NewSecret(Secrets.LoginSessionPrefix);
        var tokenHash = Secrets.Hash(token);
        var expires = now + sessionLifetime;
        if (credentials.RedeemLoginCode(Secrets.Hash(code), now, tokenHash, expires) is not { } redeemed) return null;
        Changed?.Invoke();
        return new LoginSession(token, new Identity(redeemed.Role, redeemed.KeyName, null) { Credential = Convert.ToBase64String(tokenHash), ExpiresAt = expires });
    }

    /// <summary>Ends a login session (the dashboard's "log out"); false when it was not one.</summary>
    public bool RevokeLoginSession(string credential)
    {
        var changed = credentials.RevokeLoginSession(Convert.FromBase64String(credential));
        if (changed) Changed?.Invoke();
        return changed;
    }

    /// <summary>Resolves a device token, an API key or a login session straight from the database (the CLI and tests; the gateway uses <see cref="IdentityCache"/>).</summary>
    public Identity? Authenticate(string secret, DateTimeOffset? now = null)
    {
        if (string.IsNullOrEmpty(secret) || secret.Length > 200) return null;
        var hash = Convert.ToBase64String(Secrets.Hash(secret));
        return LoadActive(now ?? DateTimeOffset.UtcNow).Identities.FirstOrDefault(i => i.Credential == hash && Secrets.Matches(secret, Convert.FromBase64String(i.Credential)));
    }

    private static DeviceRecord ToRecord(DeviceCredentialRow row) => new(row.DeviceId, row.Name, row.Location, row.CreatedAt, row.Revoked);
}

/// <summary>A refusal a user can act on (shown as one line by the CLI).</summary>
public sealed class IdentityException(string message) : Exception(message);
