using System.Data;
using Npgsql;

namespace IotWs.Gateway.Storage.Postgres;

/// <summary>Credentials in the shared PostgreSQL database (feature "identity"); a row trigger bumps identity_version on every write.</summary>
public sealed class PostgresCredentialStore(PostgresDatabase db) : ICredentialStore
{
    public bool InsertDevice(string deviceId, string? name, string? location, byte[] tokenHash, DateTimeOffset createdAt)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, """
            INSERT INTO devices (device_id, name, location, token_hash, created_at_ms) VALUES (@id, @n, @l, @h, @t)
            ON CONFLICT (device_id) DO NOTHING
            """).Text("id", deviceId).Text("n", name).Text("l", location).Bytes("h", tokenHash).Time("t", createdAt);
        return cmd.ExecuteNonQuery() == 1;
    }

    public bool ReplaceDeviceToken(string deviceId, byte[] tokenHash)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "UPDATE devices SET token_hash = @h, revoked = false WHERE device_id = @id").Text("id", deviceId).Bytes("h", tokenHash);
        return cmd.ExecuteNonQuery() != 0;
    }

    public bool RevokeDevice(string deviceId)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "UPDATE devices SET revoked = true WHERE device_id = @id").Text("id", deviceId);
        return cmd.ExecuteNonQuery() != 0;
    }

    public IReadOnlyList<DeviceCredentialRow> ListDevices()
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "SELECT device_id, name, location, created_at_ms, revoked FROM devices ORDER BY device_id COLLATE \"C\"");
        using var r = cmd.ExecuteReader();
        var list = new List<DeviceCredentialRow>();
        while (r.Read()) list.Add(ReadDevice(r));
        return list;
    }

    public DeviceCredentialRow? FindDevice(string deviceId)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "SELECT device_id, name, location, created_at_ms, revoked FROM devices WHERE device_id = @id").Text("id", deviceId);
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadDevice(r) : null;
    }

    public bool InsertKey(string name, string role, byte[] keyHash, DateTimeOffset createdAt)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, """
            INSERT INTO api_keys (name, role, key_hash, created_at_ms) VALUES (@n, @r, @h, @t) ON CONFLICT (name) DO NOTHING
            """).Text("n", name).Text("r", role).Bytes("h", keyHash).Time("t", createdAt);
        return cmd.ExecuteNonQuery() == 1;
    }

    public bool RevokeKey(string name)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "UPDATE api_keys SET revoked = true WHERE name = @n").Text("n", name);
        return cmd.ExecuteNonQuery() != 0;
    }

    public IReadOnlyList<ApiKeyRow> ListKeys()
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "SELECT name, role, created_at_ms, revoked FROM api_keys ORDER BY name COLLATE \"C\"");
        using var r = cmd.ExecuteReader();
        var list = new List<ApiKeyRow>();
        while (r.Read()) list.Add(new ApiKeyRow(r.GetString(0), r.GetString(1), Pg.FromMs(r.GetInt64(2)), r.GetBoolean(3)));
        return list;
    }

    public bool HasActiveAdminKey()
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'admin' AND NOT revoked)");
        return (bool)cmd.ExecuteScalar()!;
    }

    public long Version()
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "SELECT version FROM identity_version WHERE id = 1");
        return (long)cmd.ExecuteScalar()!;
    }

    public (long Version, IReadOnlyList<ActiveCredential> Credentials) LoadActive(DateTimeOffset now)
    {
        using var c = db.Open();
        // One snapshot for the version and the rows it belongs to.
        using var tx = c.BeginTransaction(IsolationLevel.RepeatableRead);
        long version;
        using (var v = Pg.Command(c, "SELECT version FROM identity_version WHERE id = 1", tx)) version = (long)v.ExecuteScalar()!;
        var list = new List<ActiveCredential>();
        using (var cmd = Pg.Command(c, """
            SELECT 0, device_id, 'device', token_hash, NULL::bigint FROM devices WHERE NOT revoked
            UNION ALL SELECT 1, name, role, key_hash, NULL FROM api_keys WHERE NOT revoked
            UNION ALL SELECT 2, s.key_name, k.role, s.session_hash, s.expires_at FROM login_sessions s JOIN api_keys k ON k.name = s.key_name
              WHERE NOT s.revoked AND NOT k.revoked AND s.expires_at > @now
            """, tx).Time("now", now))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                list.Add(new ActiveCredential((CredentialKind)r.GetInt32(0), r.GetString(1), r.GetString(2), (byte[])r.GetValue(3), Pg.OptionalTime(r, 4)));
            }
        }
        tx.Commit();
        return (version, list);
    }

    public void InsertLoginCode(byte[] codeHash, string keyName, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        using (var purge = Pg.Command(c, "DELETE FROM login_codes WHERE expires_at <= @now", tx).Time("now", now)) purge.ExecuteNonQuery();
        using (var insert = Pg.Command(c, "INSERT INTO login_codes (code_hash, key_name, expires_at) VALUES (@h, @n, @e)", tx)
            .Bytes("h", codeHash).Text("n", keyName).Time("e", expiresAt)) insert.ExecuteNonQuery();
        tx.Commit();
    }

    public RedeemedLoginCode? RedeemLoginCode(byte[] codeHash, DateTimeOffset now, byte[] sessionHash, DateTimeOffset sessionExpiresAt)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        string keyName;
        string? role;
        // Deleted whatever happens next: a code is spent by its first use (two gateways redeeming it at once: one wins).
        using (var take = Pg.Command(c, """
            DELETE FROM login_codes WHERE code_hash = @h
            RETURNING key_name, expires_at, (SELECT role FROM api_keys k WHERE k.name = login_codes.key_name AND NOT k.revoked)
            """, tx).Bytes("h", codeHash))
        using (var r = take.ExecuteReader())
        {
            if (!r.Read()) return null;
            keyName = r.GetString(0);
            var fresh = r.GetInt64(1) > now.ToUnixTimeMilliseconds();
            role = fresh && !r.IsDBNull(2) ? r.GetString(2) : null;
        }
        if (role is not null)
        {
            using var insert = Pg.Command(c, "INSERT INTO login_sessions (session_hash, key_name, created_at_ms, expires_at) VALUES (@h, @n, @t, @e)", tx)
                .Bytes("h", sessionHash).Text("n", keyName).Time("t", now).Time("e", sessionExpiresAt);
            insert.ExecuteNonQuery();
        }
        tx.Commit();
        return role is null ? null : new RedeemedLoginCode(keyName, role);
    }

    public bool RevokeLoginSession(byte[] sessionHash)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "UPDATE login_sessions SET revoked = true WHERE session_hash = @h AND NOT revoked").Bytes("h", sessionHash);
        return cmd.ExecuteNonQuery() != 0;
    }

    private static DeviceCredentialRow ReadDevice(NpgsqlDataReader r) =>
        new(r.GetString(0), Pg.OptionalText(r, 1), Pg.OptionalText(r, 2), Pg.FromMs(r.GetInt64(3)), r.GetBoolean(4));
}
