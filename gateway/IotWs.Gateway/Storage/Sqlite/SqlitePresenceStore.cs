using System.Text.Json.Nodes;
using IotWs.Gateway.Storage;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Devices;

/// <summary>A device's presence as kept on disk: the last known state, so a restarted gateway still knows it.</summary>
public sealed record PresenceRow(
    string DeviceId,
    string Status,
    DateTimeOffset? StatusSince,
    DateTimeOffset? LastSeen,
    long? BootId,
    TimeSpan HeartbeatInterval,
    string? LastHeartbeatJson);

/// <summary>Presence history and last known state per device in SQLite (feature "presence").</summary>
public sealed class PresenceStore : IDisposable
{
    /// <summary>presence_history: every transition; presence_state: one row per device.</summary>
    public sealed class Schema : ISchemaMigration
    {
        public string Feature => "presence";

        public IReadOnlyList<string> Steps { get; } =
        [
            "CREATE TABLE presence_history (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, at_ms INTEGER NOT NULL)",
            "CREATE INDEX presence_history_device ON presence_history (device_id, id)",
            "CREATE INDEX presence_history_at ON presence_history (at_ms)",
            """
            CREATE TABLE presence_state (
                device_id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                status_since_ms INTEGER,
                last_seen_ms INTEGER,
                boot_id INTEGER,
                heartbeat_interval_ms INTEGER NOT NULL,
                last_heartbeat TEXT
            ) WITHOUT ROWID
            """,
        ];
    }

    private readonly GatewayDatabase _db;
    private readonly DeferredWrites _writes;

    public PresenceStore(GatewayDatabase db, ILogger<PresenceStore> logger)
    {
        _db = db;
        _writes = new DeferredWrites(db, logger);
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
    public void RecordChange(PresenceChange change, PresenceRow state) =>
        _writes.Enqueue((connection, tx) =>
        {
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
        _writes.Enqueue((connection, tx) =>
        {
            foreach (var state in states) Upsert(connection, tx, state);
        });
    }

    public void PruneHistory(DateTimeOffset before) =>
        _writes.Enqueue((connection, tx) =>
        {
            using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM presence_history WHERE at_ms < $cut";
            cmd.Parameters.AddWithValue("$cut", before.ToUnixTimeMilliseconds());
            cmd.ExecuteNonQuery();
        });

    /// <summary>Newest first.</summary>
    public IReadOnlyList<PresenceChange> History(string deviceId, int limit)
    {
        _writes.Flush();
        using var connection = _db.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT status, reason, at_ms FROM presence_history WHERE device_id = $d ORDER BY id DESC LIMIT $n";
        cmd.Parameters.AddWithValue("$d", deviceId);
        cmd.Parameters.AddWithValue("$n", Math.Clamp(limit, 0, 10_000));
        using var reader = cmd.ExecuteReader();
        var changes = new List<PresenceChange>();
        while (reader.Read())
        {
            changes.Add(new PresenceChange(deviceId, reader.GetString(0), reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
        }
        return changes;
    }

    public void Flush() => _writes.Flush();

    public void Dispose() => _writes.Dispose();

    internal static string? MetricsJson(JsonObject? metrics) => metrics is null ? null : Wire.WireJson.ToText(metrics);

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

    private static DateTimeOffset? Time(SqliteDataReader reader, int i) =>
        reader.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(i));
}
