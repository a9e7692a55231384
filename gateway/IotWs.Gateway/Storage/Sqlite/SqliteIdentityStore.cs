using System.Text.RegularExpressions;
using IotWs.Gateway.Storage;
using IotWs.Protocol;
using Microsoft.Data.Sqlite;

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

/// <summary>Device tokens, role-scoped API keys and login sessions, stored hashed in the gateway database.</summary>
public sealed partial class IdentityStore(GatewayDatabase db)
{
    /// <summary>How long a login link's code can be redeemed.</summary>
    public static readonly TimeSpan LoginCodeLifetime = TimeSpan.FromMinutes(10);

    /// <summary>Raised after this instance changed a device, key or session (other processes are seen through <see cref="Version"/>).</summary>
    public event Action? Changed;

    public sealed class Schema : ISchemaMigration
    {
        public string Feature => "identity";
        public IReadOnlyList<string> Steps { get; } =
        [
            """
            CREATE TABLE devices (
              device_id TEXT PRIMARY KEY,
              name TEXT, location TEXT,
              token_hash BLOB NOT NULL,
              created_at TEXT NOT NULL,
              revoked INTEGER NOT NULL DEFAULT 0);
            CREATE UNIQUE INDEX devices_token ON devices(token_hash);
            CREATE TABLE api_keys (
              name TEXT PRIMARY KEY,
              role TEXT NOT NULL,
              key_hash BLOB NOT NULL,
              created_at TEXT NOT NULL,
              revoked INTEGER NOT NULL DEFAULT 0);
            CREATE UNIQUE INDEX api_keys_hash ON api_keys(key_hash);
            """,
            // A change counter every writer bumps (the triggers make the CLI, another process, bump it too):
            // the gateway polls this one row to refresh its identity cache and close revoked sessions.
            // Login codes are one-time and short-lived; sessions are what a code is exchanged for.
            """
            CREATE TABLE identity_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
            INSERT INTO identity_version(id, version) VALUES (1, 0);
            CREATE TABLE login_codes (
              code_hash BLOB PRIMARY KEY,
              key_name TEXT NOT NULL,
              expires_at INTEGER NOT NULL);
            CREATE TABLE login_sessions (
              session_hash BLOB PRIMARY KEY,
              key_name TEXT NOT NULL,
              created_at TEXT NOT NULL,
              expires_at INTEGER NOT NULL,
              revoked INTEGER NOT NULL DEFAULT 0);
            CREATE TRIGGER devices_ins AFTER INSERT ON devices BEGIN UPDATE identity_version SET version = version + 1; END;
            CREATE TRIGGER devices_upd AFTER UPDATE ON devices BEGIN UPDATE identity_version SET version = version + 1; END;
            CREATE TRIGGER devices_del AFTER DELETE ON devices BEGIN UPDATE identity_version SET version = version + 1; END;
            CREATE TRIGGER api_keys_ins AFTER INSERT ON api_keys BEGIN UPDATE identity_version SET version = version + 1; END;
            CREATE TRIGGER api_keys_upd AFTER UPDATE ON api_keys BEGIN UPDATE identity_version SET version = version + 1; END;
            CREATE TRIGGER api_keys_del AFTER DELETE ON api_keys BEGIN UPDATE identity_version SET version = version + 1; END;
            CREATE TRIGGER login_sessions_ins AFTER INSERT ON login_sessions BEGIN UPDATE identity_version SET version = version + 1; END;
            CREATE TRIGGER login_sessions_upd AFTER UPDATE ON login_sessions BEGIN UPDATE identity_version SET version = version + 1; END;
            CREATE TRIGGER login_sessions_del AFTER DELETE ON login_sessions BEGIN UPDATE identity_version SET version = version + 1; END;
            """,
        ];
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
    private static partial Regex IdPattern();

    /// <summary>Device ids and key names: 1–64 of letters, digits, '_', '.', ':', '-' (they appear in topics and file names).</summary>
    public static bool IsValidId(string id) => IdPattern().IsMatch(id);

    public string AddDevice(string deviceId, string? name, string? location)
    {
        if (!IsValidId(deviceId)) throw new IdentityException($"'{deviceId}' is not a valid device id: use 1-64 letters, digits, '_', '.', ':' or '-'.");
        var token = Secrets.NewSecret(Secrets.DeviceTokenPrefix);
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT INTO devices(device_id, name, location, token_hash, created_at) VALUES ($id, $n, $l, $h, $t)";
        cmd.Parameters.AddWithValue("$id", deviceId);
        cmd.Parameters.AddWithValue("$n", (object?)name ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$l", (object?)location ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$h", Secrets.Hash(token));
        cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToString("O"));
        try
        {
            cmd.ExecuteNonQuery();
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new IdentityException($"Device '{deviceId}' already exists; use 'devices rotate-token {deviceId}' for a new token.");
        }
        Changed?.Invoke();
        return token;
    }

    public string RotateToken(string deviceId)
    {
        var token = Secrets.NewSecret(Secrets.DeviceTokenPrefix);
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE devices SET token_hash = $h, revoked = 0 WHERE device_id = $id";
        cmd.Parameters.AddWithValue("$id", deviceId);
        cmd.Parameters.AddWithValue("$h", Secrets.Hash(token));
        if (cmd.ExecuteNonQuery() == 0) throw new IdentityException($"No device '{deviceId}'.");
        Changed?.Invoke();
        return token;
    }

    public void RevokeDevice(string deviceId)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE devices SET revoked = 1 WHERE device_id = $id";
        cmd.Parameters.AddWithValue("$id", deviceId);
        if (cmd.ExecuteNonQuery() == 0) throw new IdentityException($"No device '{deviceId}'.");
        Changed?.Invoke();
    }

    public IReadOnlyList<DeviceRecord> ListDevices()
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT device_id, name, location, created_at, revoked FROM devices ORDER BY device_id";
        using var r = cmd.ExecuteReader();
        var list = new List<DeviceRecord>();
        while (r.Read()) list.Add(ReadDevice(r));
        return list;
    }

    public DeviceRecord? FindDevice(string deviceId)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT device_id, name, location, created_at, revoked FROM devices WHERE device_id = $id";
        cmd.Parameters.AddWithValue("$id", deviceId);
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadDevice(r) : null;
    }

    public string AddKey(string name, string role)
    {
        if (!IsValidId(name)) throw new IdentityException($"'{name}' is not a valid key name: use 1-64 letters, digits, '_', '.', ':' or '-'.");
        if (!Roles.IsKeyRole(role)) throw new IdentityException($"'{role}' is not a role: use viewer, technician or admin.");
        var key = Secrets.NewSecret(Secrets.ApiKeyPrefix);
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT INTO api_keys(name, role, key_hash, created_at) VALUES ($n, $r, $h, $t)";
        cmd.Parameters.AddWithValue("$n", name);
        cmd.Parameters.AddWithValue("$r", role);
        cmd.Parameters.AddWithValue("$h", Secrets.Hash(key));
        cmd.Parameters.AddWithValue("$t", DateTimeOffset.UtcNow.ToString("O"));
        try
        {
            cmd.ExecuteNonQuery();
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)
        {
            throw new IdentityException($"A key named '{name}' already exists.");
        }
        Changed?.Invoke();
        return key;
    }

    public void RevokeKey(string name)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE api_keys SET revoked = 1 WHERE name = $n";
        cmd.Parameters.AddWithValue("$n", name);
        if (cmd.ExecuteNonQuery() == 0) throw new IdentityException($"No key named '{name}'.");
        Changed?.Invoke();
    }

    public IReadOnlyList<ApiKeyRecord> ListKeys()
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT name, role, created_at, revoked FROM api_keys ORDER BY name";
        using var r = cmd.ExecuteReader();
        var list = new List<ApiKeyRecord>();
        while (r.Read()) list.Add(new ApiKeyRecord(r.GetString(0), r.GetString(1), DateTimeOffset.Parse(r.GetString(2), System.Globalization.CultureInfo.InvariantCulture), r.GetInt64(3) != 0));
        return list;
    }

    public bool HasActiveAdminKey()
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT EXISTS(SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked = 0)";
        return (long)cmd.ExecuteScalar()! != 0;
    }

    /// <summary>The change counter: it moves whenever a device, key or login session is written, by any process.</summary>
    public long Version()
    {
        using var c = db.Open();
        return ReadVersion(c, null);
    }

    /// <summary>Every credential that can authenticate now (active devices, keys and unexpired sessions of active keys), read in one transaction with the version it belongs to.</summary>
    public (long Version, IReadOnlyList<Identity> Identities) LoadActive(DateTimeOffset now)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction(deferred: true);
        var version = ReadVersion(c, tx);
        var list = new List<Identity>();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            SELECT 'device', device_id, token_hash, NULL FROM devices WHERE revoked = 0
            UNION ALL SELECT role, name, key_hash, NULL FROM api_keys WHERE revoked = 0
            UNION ALL SELECT k.role, s.key_name, s.session_hash, s.expires_at FROM login_sessions s JOIN api_keys k ON k.name = s.key_name
              WHERE s.revoked = 0 AND k.revoked = 0 AND s.expires_at > $now
            """;
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                var role = r.GetString(0);
                var id = r.GetString(1);
                var credential = Convert.ToBase64String((byte[])r.GetValue(2));
                DateTimeOffset? expires = r.IsDBNull(3) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3));
                list.Add(role == Roles.Device
                    ? new Identity(Roles.Device, "device:" + id, id) { Credential = credential }
                    : new Identity(role, id, null) { Credential = credential, ExpiresAt = expires });
            }
        }
        tx.Commit();
        return (version, list);
    }

    /// <summary>A one-time login code for an active key, redeemable for <see cref="LoginCodeLifetime"/>. Only its hash is stored.</summary>
    public LoginCode CreateLoginCode(string keyName, DateTimeOffset now)
    {
        var key = ListKeys().FirstOrDefault(k => k.Name == keyName) ?? throw new IdentityException($"No key named '{keyName}'.");
        if (key.Revoked) throw new IdentityException($"Key '{keyName}' is revoked: a login link would not work.");
        var code = Secrets.NewSecret(Secrets.LoginCodePrefix);
        var expires = now + LoginCodeLifetime;
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            DELETE FROM login_codes WHERE expires_at <= $now;
            INSERT INTO login_codes(code_hash, key_name, expires_at) VALUES ($h, $n, $e);
            """;
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$h", Secrets.Hash(code));
        cmd.Parameters.AddWithValue("$n", keyName);
        cmd.Parameters.AddWithValue("$e", expires.ToUnixTimeMilliseconds());
        cmd.ExecuteNonQuery();
        return new LoginCode(keyName, key.Role, code, expires);
    }

    /// <summary>Exchanges a login code (once, before it expires, while its key is active) for a session token; null when the code does not qualify.</summary>
    public LoginSession? RedeemLoginCode(string code, DateTimeOffset now, TimeSpan sessionLifetime)
    {
        if (string.IsNullOrEmpty(code) || code.Length > 200) return null;
        var hash = Secrets.Hash(code);
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        using var take = c.CreateCommand();
        take.Transaction = tx;
        // Deleted whatever happens next: a code is spent by its first use.
        take.CommandText = """
            DELETE FROM login_codes WHERE code_hash = $h
            RETURNING key_name, expires_at, (SELECT role FROM api_keys k WHERE k.name = login_codes.key_name AND k.revoked = 0)
            """;
        take.Parameters.AddWithValue("$h", hash);
        string keyName;
        string? role;
        using (var r = take.ExecuteReader())
        {
            if (!r.Read())
            {
                return null;
            }
            keyName = r.GetString(0);
            var fresh = r.GetInt64(1) > now.ToUnixTimeMilliseconds();
            role = fresh && !r.IsDBNull(2) ? r.GetString(2) : null;
        }
        if (role is null)
        {
            tx.Commit();
            return null;
        }
        var token = Secrets.NewSecret(Secrets.LoginSessionPrefix);
        var tokenHash = Secrets.Hash(token);
        var expires = now + sessionLifetime;
        using var insert = c.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = "INSERT INTO login_sessions(session_hash, key_name, created_at, expires_at) VALUES ($h, $n, $t, $e)";
        insert.Parameters.AddWithValue("$h", tokenHash);
        insert.Parameters.AddWithValue("$n", keyName);
        insert.Parameters.AddWithValue("$t", now.ToString("O"));
        insert.Parameters.AddWithValue("$e", expires.ToUnixTimeMilliseconds());
        insert.ExecuteNonQuery();
        tx.Commit();
        Changed?.Invoke();
        return new LoginSession(token, new Identity(role, keyName, null) { Credential = Convert.ToBase64String(tokenHash), ExpiresAt = expires });
    }

    /// <summary>Ends a login session (the dashboard's "log out"); false when it was not one.</summary>
    public bool RevokeLoginSession(string credential)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE login_sessions SET revoked = 1 WHERE session_hash = $h AND revoked = 0";
        cmd.Parameters.AddWithValue("$h", Convert.FromBase64String(credential));
        var changed = cmd.ExecuteNonQuery() != 0;
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

    private static long ReadVersion(SqliteConnection c, SqliteTransaction? tx)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT version FROM identity_version WHERE id = 1";
        return (long)cmd.ExecuteScalar()!;
    }

    private static DeviceRecord ReadDevice(SqliteDataReader r) => new(
        r.GetString(0),
        r.IsDBNull(1) ? null : r.GetString(1),
        r.IsDBNull(2) ? null : r.GetString(2),
        DateTimeOffset.Parse(r.GetString(3), System.Globalization.CultureInfo.InvariantCulture),
        r.GetInt64(4) != 0);
}

/// <summary>A refusal a user can act on (shown as one line by the CLI).</summary>
public sealed class IdentityException(string message) : Exception(message);
