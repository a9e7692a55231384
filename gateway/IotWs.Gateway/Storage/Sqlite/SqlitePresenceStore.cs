using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>Presence history and last known state per device in SQLite (feature "presence").</summary>
public sealed class SqlitePresenceStore : IPresenceStore
{
    private readonly SqliteDatabase _db;
    private readonly DeferredWrites _writes;

    public SqlitePresenceStore(SqliteDatabase db, ILogger<SqlitePresenceStore> logger)
    {
        _db = db;
        _writes = new DeferredWrites(db.Open, logger);
    }

    public IReadOnlyList<PresenceRow> LoadAll()
    {
        using var connection = _db.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT device_id, status, status_since_ms, last_seen_ms, boot_id, heartbeat_interval_ms, last_heartbeat FROM presence_state";
        using var reader = cmd.ExecuteReader();
        var rows = new List<PresenceRow>();
        while (reader.Read())
        {
            rows.Add(new PresenceRow(
                reader.GetString(0),
                reader.GetString(1),
                Time(reader, 2),
                Time(reader, 3),
                reader.IsDBNull(4) ? null : reader.GetInt64(4),
                TimeSpan.FromMilliseconds(reader.GetInt64(5)),
                reader.IsDBNull(6) ? null : reader.GetString(6)));
        }
        return rows;
    }

    /// <summary>Queues a transition for history and the device's new state.</summary>
    public void RecordChange(PresenceTransition change, PresenceRow state) =>
        _writes.Enqueue((db, dbTx) =>
        {
            var (connection, tx) = Sqlite(db, dbTx);
            using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO presence_history (device_id, status, reason, at_ms) VALUES ($d, $s, $r, $at)";
            cmd.Parameters.AddWithValue("$d", change.DeviceId);
            cmd.Parameters.AddWithValue("$s", change.Status);
            cmd.Parameters.AddWithValue("$r", change.Reason);
            cmd.Parameters.AddWithValue("$at", change.At.ToUnixTimeMilliseconds());
            cmd.ExecuteNonQuery();
            Upsert(connection, tx, state);
        });

    /// <summary>Queues last-seen/heartbeat updates (no transition).</summary>
    public void SaveStates(IReadOnlyList<PresenceRow> states)
    {
        if (states.Count == 0) return;
        _writes.Enqueue((db, dbTx) =>
        {
            var (connection, tx) = Sqlite(db, dbTx);
            foreach (var state in states) Upsert(connection, tx, state);
        });
    }

    public void PruneHistory(DateTimeOffset before) =>
        _writes.Enqueue((db, dbTx) =>
        {
            var (connection, tx) = Sqlite(db, dbTx);
            using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM presence_history WHERE at_ms < $cut";
            cmd.Parameters.AddWithValue("$cut", before.ToUnixTimeMilliseconds());
            cmd.ExecuteNonQuery();
        });

    /// <summary>Newest first.</summary>
    public IReadOnlyList<PresenceTransition> History(string deviceId, int limit)
    {
        _writes.Flush();
        using var connection = _db.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT status, reason, at_ms FROM presence_history WHERE device_id = $d ORDER BY id DESC LIMIT $n";
        cmd.Parameters.AddWithValue("$d", deviceId);
        cmd.Parameters.AddWithValue("$n", Math.Clamp(limit, 0, 10_000));
        using var reader = cmd.ExecuteReader();
        var changes = new List<PresenceTransition>();
        while (reader.Read())
        {
            changes.Add(new PresenceTransition(deviceId, reader.GetString(0), reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
        }
        return changes;
    }

    public void Flush() => _writes.Flush();

    public void Dispose() => _writes.Dispose();

    private static void Upsert(SqliteConnection connection, SqliteTransaction tx, PresenceRow state)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO presence_state (device_id, status, status_since_ms, last_seen_ms, boot_id, heartbeat_interval_ms, last_heartbeat)
            VALUES ($d, $s, $since, $seen, $boot, $hb, $metrics)
            ON CONFLICT(device_id) DO UPDATE SET status = excluded.status, status_since_ms = excluded.status_since_ms,
                last_seen_ms = excluded.last_seen_ms, boot_id = excluded.boot_id,
                heartbeat_interval_ms = excluded.heartbeat_interval_ms, last_heartbeat = excluded.last_heartbeat
            """;
        cmd.Parameters.AddWithValue("$d", state.DeviceId);
        cmd.Parameters.AddWithValue("$s", state.Status);
        cmd.Parameters.AddWithValue("$since", (object?)state.StatusSince?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$seen", (object?)state.LastSeen?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$boot", (object?)state.BootId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$hb", (long)state.HeartbeatInterval.TotalMilliseconds);
        cmd.Parameters.AddWithValue("$metrics", (object?)state.LastHeartbeatJson ?? DBNull.Value);
        cmd.ExecuteNonQuery();
    }

    private static (SqliteConnection, SqliteTransaction) Sqlite(DbConnection c, DbTransaction tx) => ((SqliteConnection)c, (SqliteTransaction)tx);

    private static DateTimeOffset? Time(SqliteDataReader reader, int i) =>
        reader.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(i));
}
