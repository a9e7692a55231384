using System.Data.Common;
using Npgsql;

namespace IotWs.Gateway.Storage.Postgres;

/// <summary>Presence history and last known state per device in PostgreSQL (feature "presence"), written in background batches.</summary>
public sealed class PostgresPresenceStore : IPresenceStore
{
    private readonly PostgresDatabase _db;
    private readonly DeferredWrites _writes;

    public PostgresPresenceStore(PostgresDatabase db, ILogger<PostgresPresenceStore> logger)
    {
        _db = db;
        _writes = new DeferredWrites(db.Open, logger);
    }

    public IReadOnlyList<PresenceRow> LoadAll()
    {
        using var c = _db.Open();
        using var cmd = Pg.Command(c, "SELECT device_id, status, status_since_ms, last_seen_ms, boot_id, heartbeat_interval_ms, last_heartbeat FROM presence_state");
        using var r = cmd.ExecuteReader();
        var rows = new List<PresenceRow>();
        while (r.Read())
        {
            rows.Add(new PresenceRow(r.GetString(0), r.GetString(1), Pg.OptionalTime(r, 2), Pg.OptionalTime(r, 3), Pg.OptionalLong(r, 4),
                TimeSpan.FromMilliseconds(r.GetInt64(5)), Pg.OptionalText(r, 6)));
        }
        return rows;
    }

    public void RecordChange(PresenceTransition change, PresenceRow state) =>
        _writes.Enqueue((connection, tx) =>
        {
            var (c, t) = Npgsql(connection, tx);
            using (var cmd = Pg.Command(c, "INSERT INTO presence_history (device_id, status, reason, at_ms) VALUES (@d, @s, @r, @at)", t)
                .Text("d", change.DeviceId).Text("s", change.Status).Text("r", change.Reason).Time("at", change.At)) cmd.ExecuteNonQuery();
            Upsert(c, t, [state]);
        });

    public void SaveStates(IReadOnlyList<PresenceRow> states)
    {
        if (states.Count == 0) return;
        _writes.Enqueue((connection, tx) =>
        {
            var (c, t) = Npgsql(connection, tx);
            Upsert(c, t, states);
        });
    }

    public void PruneHistory(DateTimeOffset before) =>
        _writes.Enqueue((connection, tx) =>
        {
            var (c, t) = Npgsql(connection, tx);
            using var cmd = Pg.Command(c, "DELETE FROM presence_history WHERE at_ms < @cut", t).Time("cut", before);
            cmd.ExecuteNonQuery();
        });

    public IReadOnlyList<PresenceTransition> History(string deviceId, int limit)
    {
        _writes.Flush();
        using var c = _db.Open();
        using var cmd = Pg.Command(c, "SELECT status, reason, at_ms FROM presence_history WHERE device_id = @d ORDER BY id DESC LIMIT @n")
            .Text("d", deviceId).Int("n", Math.Clamp(limit, 0, 10_000));
        using var r = cmd.ExecuteReader();
        var changes = new List<PresenceTransition>();
        while (r.Read()) changes.Add(new PresenceTransition(deviceId, r.GetString(0), r.GetString(1), Pg.FromMs(r.GetInt64(2))));
        return changes;
    }

    public void Flush() => _writes.Flush();

    public void Dispose() => _writes.Dispose();

    /// <summary>All the states in one statement (a heartbeat sweep saves many devices at once).</summary>
    private static void Upsert(NpgsqlConnection c, NpgsqlTransaction tx, IReadOnlyList<PresenceRow> states)
    {
        using var cmd = Pg.Command(c, """
            INSERT INTO presence_state (device_id, status, status_since_ms, last_seen_ms, boot_id, heartbeat_interval_ms, last_heartbeat)
            SELECT * FROM unnest(@d, @s, @since, @seen, @boot, @hb, @metrics)
            ON CONFLICT (device_id) DO UPDATE SET status = excluded.status, status_since_ms = excluded.status_since_ms,
                last_seen_ms = excluded.last_seen_ms, boot_id = excluded.boot_id,
                heartbeat_interval_ms = excluded.heartbeat_interval_ms, last_heartbeat = excluded.last_heartbeat
            """, tx);
        // One row per device: the last state queued wins, as it would with one upsert per state.
        var last = new Dictionary<string, PresenceRow>(StringComparer.Ordinal);
        foreach (var s in states) last[s.DeviceId] = s;
        var rows = last.Values.ToArray();
        cmd.Parameters.AddWithValue("d", rows.Select(s => s.DeviceId).ToArray());
        cmd.Parameters.AddWithValue("s", rows.Select(s => s.Status).ToArray());
        cmd.Parameters.AddWithValue("since", rows.Select(s => s.StatusSince?.ToUnixTimeMilliseconds()).ToArray());
        cmd.Parameters.AddWithValue("seen", rows.Select(s => s.LastSeen?.ToUnixTimeMilliseconds()).ToArray());
        cmd.Parameters.AddWithValue("boot", rows.Select(s => s.BootId).ToArray());
        cmd.Parameters.AddWithValue("hb", rows.Select(s => (long)s.HeartbeatInterval.TotalMilliseconds).ToArray());
        cmd.Parameters.AddWithValue("metrics", rows.Select(s => s.LastHeartbeatJson).ToArray());
        cmd.ExecuteNonQuery();
    }

    private static (NpgsqlConnection, NpgsqlTransaction) Npgsql(DbConnection c, DbTransaction tx) => ((NpgsqlConnection)c, (NpgsqlTransaction)tx);
}
