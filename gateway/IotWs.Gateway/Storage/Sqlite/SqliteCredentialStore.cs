using System.Globalization;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>Credentials in the gateway's SQLite file (feature "identity"); triggers bump identity_version on every write, from any process.</summary>
public sealed class SqliteCredentialStore(SqliteDatabase db) : ICredentialStore
{
    private const int ConstraintViolation = 19;

    public bool InsertDevice(string deviceId, string? name, string? location, byte[] tokenHash, DateTimeOffset createdAt)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT INTO devices(device_id, name, location, token_hash, created_at) VALUES ($id, $n, $l, $h, $t)";
        cmd.Parameters.AddWithValue("$id", deviceId);
        cmd.Parameters.AddWithValue("$n", (object?)name ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$l", (object?)location ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$h", tokenHash);
        cmd.Parameters.AddWithValue("$t", createdAt.ToString("O"));
        return TryInsert(cmd);
    }

    public bool ReplaceDeviceToken(string deviceId, byte[] tokenHash) =>
        Execute("UPDATE devices SET token_hash = $h, revoked = 0 WHERE device_id = $id", ("$id", deviceId), ("$h", tokenHash)) != 0;

    public bool RevokeDevice(string deviceId) =>
        Execute("UPDATE devices SET revoked = 1 WHERE device_id = $id", ("$id", deviceId)) != 0;

    public IReadOnlyList<DeviceCredentialRow> ListDevices()
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT device_id, name, location, created_at, revoked FROM devices ORDER BY device_id";
        using var r = cmd.ExecuteReader();
        var list = new List<DeviceCredentialRow>();
        while (r.Read()) list.Add(ReadDevice(r));
        return list;
    }

    public DeviceCredentialRow? FindDevice(string deviceId)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT device_id, name, location, created_at, revoked FROM devices WHERE device_id = $id";
        cmd.Parameters.AddWithValue("$id", deviceId);
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadDevice(r) : null;
    }

    public bool InsertKey(string name, string role, byte[] keyHash, DateTimeOffset createdAt)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT INTO api_keys(name, role, key_hash, created_at) VALUES ($n, $r, $h, $t)";
        cmd.Parameters.AddWithValue("$n", name);
        cmd.Parameters.AddWithValue("$r", role);
        cmd.Parameters.AddWithValue("$h", keyHash);
        cmd.Parameters.AddWithValue("$t", createdAt.ToString("O"));
        return TryInsert(cmd);
    }

    public bool RevokeKey(string name) =>
        Execute("UPDATE api_keys SET revoked = 1 WHERE name = $n", ("$n", name)) != 0;

    public IReadOnlyList<ApiKeyRow> ListKeys()
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT name, role, created_at, revoked FROM api_keys ORDER BY name";
        using var r = cmd.ExecuteReader();
        var list = new List<ApiKeyRow>();
        while (r.Read()) list.Add(new ApiKeyRow(r.GetString(0), r.GetString(1), DateTimeOffset.Parse(r.GetString(2), CultureInfo.InvariantCulture), r.GetInt64(3) != 0));
        return list;
    }

    public bool HasActiveAdminKey()
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT EXISTS(SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked = 0)";
        return (long)cmd.ExecuteScalar()! != 0;
    }

    public long Version()
    {
        using var c = db.Open();
        return ReadVersion(c, null);
    }

    public (long Version, IReadOnlyList<ActiveCredential> Credentials) LoadActive(DateTimeOffset now)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction(deferred: true);
        var version = ReadVersion(c, tx);
        var list = new List<ActiveCredential>();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            SELECT 0, device_id, 'device', token_hash, NULL FROM devices WHERE revoked = 0
            UNION ALL SELECT 1, name, role, key_hash, NULL FROM api_keys WHERE revoked = 0
            UNION ALL SELECT 2, s.key_name, k.role, s.session_hash, s.expires_at FROM login_sessions s JOIN api_keys k ON k.name = s.key_name
              WHERE s.revoked = 0 AND k.revoked = 0 AND s.expires_at > $now
            """;
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                list.Add(new ActiveCredential(
                    (CredentialKind)r.GetInt32(0),
                    r.GetString(1),
                    r.GetString(2),
                    (byte[])r.GetValue(3),
                    r.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4))));
            }
        }
        tx.Commit();
        return (version, list);
    }

    public void InsertLoginCode(byte[] codeHash, string keyName, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            DELETE FROM login_codes WHERE expires_at <= $now;
            INSERT INTO login_codes(code_hash, key_name, expires_at) VALUES ($h, $n, $e);
            """;
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$h", codeHash);
        cmd.Parameters.AddWithValue("$n", keyName);
        cmd.Parameters.AddWithValue("$e", expiresAt.ToUnixTimeMilliseconds());
        cmd.ExecuteNonQuery();
    }

    public RedeemedLoginCode? RedeemLoginCode(byte[] codeHash, DateTimeOffset now, byte[] sessionHash, DateTimeOffset sessionExpiresAt)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        using var take = c.CreateCommand();
        take.Transaction = tx;
        // Deleted whatever happens next: a code is spent by its first use.
        take.CommandText = """
            DELETE FROM login_codes WHERE code_hash = $h
            RETURNING key_name, expires_at, (SELECT role FROM api_keys k WHERE k.name = login_codes.key_name AND k.revoked = 0)
            """;
        take.Parameters.AddWithValue("$h", codeHash);
        string keyName;
        string? role;
        using (var r = take.ExecuteReader())
        {
            if (!r.Read()) return null;
            keyName = r.GetString(0);
            var fresh = r.GetInt64(1) > now.ToUnixTimeMilliseconds();
            role = fresh && !r.IsDBNull(2) ? r.GetString(2) : null;
        }
        if (role is null)
        {
            tx.Commit();
            return null;
        }
        using var insert = c.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = "INSERT INTO login_sessions(session_hash, key_name, created_at, expires_at) VALUES ($h, $n, $t, $e)";
        insert.Parameters.AddWithValue("$h", sessionHash);
        insert.Parameters.AddWithValue("$n", keyName);
        insert.Parameters.AddWithValue("$t", now.ToString("O"));
        insert.Parameters.AddWithValue("$e", sessionExpiresAt.ToUnixTimeMilliseconds());
        insert.ExecuteNonQuery();
        tx.Commit();
        return new RedeemedLoginCode(keyName, role);
    }

    public bool RevokeLoginSession(byte[] sessionHash) =>
        Execute("UPDATE login_sessions SET revoked = 1 WHERE session_hash = $h AND revoked = 0", ("$h", sessionHash)) != 0;

    private int Execute(string sql, params (string Name, object Value)[] parameters)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        return cmd.ExecuteNonQuery();
    }

    private static long ReadVersion(SqliteConnection c, SqliteTransaction? tx)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT version FROM identity_version WHERE id = 1";
        return (long)cmd.ExecuteScalar()!;
    }

    private static DeviceCredentialRow ReadDevice(SqliteDataReader r) => new(
        r.GetString(0),
        r.IsDBNull(1) ? null : r.GetString(1),
        r.IsDBNull(2) ? null : r.GetString(2),
        DateTimeOffset.Parse(r.GetString(3), CultureInfo.InvariantCulture),
        r.GetInt64(4) != 0);

    /// <summary>Runs an insert; false when its name or id is taken (a unique constraint), so the caller can say so.</summary>
    private static bool TryInsert(SqliteCommand cmd)
    {
        try
        {
            cmd.ExecuteNonQuery();
            return true;
        }
        catch (SqliteException e) when (e.SqliteErrorCode == ConstraintViolation)
        {
            return false;
        }
    }
}
