namespace IotWs.Gateway.Storage;

/// <summary>A provisioned device as stored (its token only as a hash, never read back).</summary>
public sealed record DeviceCredentialRow(string DeviceId, string? Name, string? Location, DateTimeOffset CreatedAt, bool Revoked);

/// <summary>An API key's stored public part.</summary>
public sealed record ApiKeyRow(string Name, string Role, DateTimeOffset CreatedAt, bool Revoked);

/// <summary>What kind of secret a credential hash belongs to.</summary>
public enum CredentialKind
{
    DeviceToken,
    ApiKey,
    LoginSession,
}

/// <summary>A secret that can authenticate now: its kind, whose it is (device id or key name), the role it grants, and its hash.</summary>
public sealed record ActiveCredential(CredentialKind Kind, string Name, string Role, byte[] Hash, DateTimeOffset? ExpiresAt);

/// <summary>A login code that was spent and qualified: the key it was made for and that key's role.</summary>
public sealed record RedeemedLoginCode(string KeyName, string Role);

/// <summary>
/// Device tokens, API keys, login codes and login sessions, kept as hashes (the identity feature makes and
/// checks the secrets). Every write moves a change counter, whichever process makes it, so a gateway sees a
/// CLI's revocation by polling <see cref="Version"/>.
/// </summary>
public interface ICredentialStore
{
    /// <summary>False when a device with this id exists already.</summary>
    bool InsertDevice(string deviceId, string? name, string? location, byte[] tokenHash, DateTimeOffset createdAt);

    /// <summary>A new token hash for a device, which also lifts its revocation; false when there is no such device.</summary>
    bool ReplaceDeviceToken(string deviceId, byte[] tokenHash);

    bool RevokeDevice(string deviceId);

    /// <summary>Ordered by device id.</summary>
    IReadOnlyList<DeviceCredentialRow> ListDevices();

    DeviceCredentialRow? FindDevice(string deviceId);

    /// <summary>False when a key with this name exists already.</summary>
    bool InsertKey(string name, string role, byte[] keyHash, DateTimeOffset createdAt);

    bool RevokeKey(string name);

    /// <summary>Ordered by name.</summary>
    IReadOnlyList<ApiKeyRow> ListKeys();

    bool HasActiveAdminKey();

    /// <summary>The change counter.</summary>
    long Version();

    /// <summary>Active devices, active keys and unexpired, unrevoked sessions of active keys, read in one snapshot with its version.</summary>
    (long Version, IReadOnlyList<ActiveCredential> Credentials) LoadActive(DateTimeOffset now);

    /// <summary>Stores a login code's hash (and drops the codes that expired by <paramref name="now"/>).</summary>
    void InsertLoginCode(byte[] codeHash, string keyName, DateTimeOffset expiresAt, DateTimeOffset now);

    /// <summary>
    /// Spends a login code, whatever happens next; when it had not expired and its key is active, stores the session
    /// hash in the same transaction and returns the key. Null when the code does not qualify (or never existed).
    /// </summary>
    RedeemedLoginCode? RedeemLoginCode(byte[] codeHash, DateTimeOffset now, byte[] sessionHash, DateTimeOffset sessionExpiresAt);

    /// <summary>Ends an active login session; false when it was none.</summary>
    bool RevokeLoginSession(byte[] sessionHash);
}
