namespace IotWs.Gateway.Storage.Postgres;

/// <summary>
/// Leases in the shared PostgreSQL database (feature "cluster"). INSERT … ON CONFLICT DO UPDATE … WHERE is atomic
/// per row: of two gateways taking a free lease at once, one inserts or updates it and the other gets no row back.
/// </summary>
public sealed class PostgresLeaseStore(PostgresDatabase db) : ILeaseStore
{
    public bool TryAcquire(string name, string holder, DateTimeOffset now, DateTimeOffset expiresAt)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, """
            INSERT INTO leases (name, holder, expires_at) VALUES (@name, @holder, @expires)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
              WHERE leases.holder = excluded.holder OR leases.expires_at <= @now
            RETURNING holder
            """).Text("name", name).Text("holder", holder).Time("expires", expiresAt).Time("now", now);
        return cmd.ExecuteScalar() is string;
    }

    public void Release(string name, string holder)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "DELETE FROM leases WHERE name = @name AND holder = @holder").Text("name", name).Text("holder", holder);
        cmd.ExecuteNonQuery();
    }

    public LeaseRow? Get(string name)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "SELECT holder, expires_at FROM leases WHERE name = @name").Text("name", name);
        using var r = cmd.ExecuteReader();
        return r.Read() ? new LeaseRow(name, r.GetString(0), Pg.FromMs(r.GetInt64(1))) : null;
    }
}
