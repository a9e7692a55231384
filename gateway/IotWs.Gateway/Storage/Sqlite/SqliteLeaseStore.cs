namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>Leases in the gateway's SQLite file (feature "cluster"): one upsert takes or renews a lease.</summary>
public sealed class SqliteLeaseStore(SqliteDatabase db) : ILeaseStore
{
    public bool TryAcquire(string name, string holder, DateTimeOffset now, DateTimeOffset expiresAt)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        // The WHERE of DO UPDATE decides: a running lease of another holder is left alone and no row comes back.
        cmd.CommandText = """
            INSERT INTO leases(name, holder, expires_at) VALUES ($name, $holder, $expires)
            ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
              WHERE leases.holder = excluded.holder OR leases.expires_at <= $now
            RETURNING holder
            """;
        cmd.Parameters.AddWithValue("$name", name);
        cmd.Parameters.AddWithValue("$holder", holder);
        cmd.Parameters.AddWithValue("$expires", expiresAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        return cmd.ExecuteScalar() is string;
    }

    public void Release(string name, string holder)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "DELETE FROM leases WHERE name = $name AND holder = $holder";
        cmd.Parameters.AddWithValue("$name", name);
        cmd.Parameters.AddWithValue("$holder", holder);
        cmd.ExecuteNonQuery();
    }

    public LeaseRow? Get(string name)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT holder, expires_at FROM leases WHERE name = $name";
        cmd.Parameters.AddWithValue("$name", name);
        using var r = cmd.ExecuteReader();
        return r.Read() ? new LeaseRow(name, r.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1))) : null;
    }
}
