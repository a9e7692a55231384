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
public sealed record Identity(string Role, string Principal, string? DeviceId);

/// <summary>Device tokens and role-scoped API keys, stored hashed in the gateway database.</summary>
public sealed partial class IdentityStore(GatewayDatabase db)
{
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
        return token;
    }

    public void RevokeDevice(string deviceId)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE devices SET revoked = 1 WHERE device_id = $id";
        cmd.Parameters.AddWithValue("$id", deviceId);
        if (cmd.ExecuteNonQuery() == 0) throw new IdentityException($"No device '{deviceId}'.");
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
        return key;
    }

    public void RevokeKey(string name)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "UPDATE api_keys SET revoked = 1 WHERE name = $n";
        cmd.Parameters.AddWithValue("$n", name);
        if (cmd.ExecuteNonQuery() == 0) throw new IdentityException($"No key named '{name}'.");
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

    /// <summary>Resolves a device token or an API key; null when it is neither (or revoked).</summary>
    public Identity? Authenticate(string secret)
    {
        if (string.IsNullOrEmpty(secret) || secret.Length > 200) return null;
        var hash = Secrets.Hash(secret);
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        // Looked up by hash (indexed), then compared in constant time against what was found.
        cmd.CommandText = secret.StartsWith(Secrets.DeviceTokenPrefix, StringComparison.Ordinal)
            ? "SELECT device_id, token_hash, revoked, 'device' FROM devices WHERE token_hash = $h"
            : "SELECT name, key_hash, revoked, role FROM api_keys WHERE key_hash = $h";
        cmd.Parameters.AddWithValue("$h", hash);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        var stored = (byte[])r.GetValue(1);
        if (!Secrets.Matches(secret, stored) || r.GetInt64(2) != 0) return null;
        var id = r.GetString(0);
        var role = r.GetString(3);
        return role == Roles.Device ? new Identity(Roles.Device, "device:" + id, id) : new Identity(role, id, null);
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
