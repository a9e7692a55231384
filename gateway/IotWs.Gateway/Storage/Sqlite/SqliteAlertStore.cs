using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>Alerts in SQLite (feature "alerts"). Ids are given out in memory (one gateway per file) so an alert can be published before its row is written.</summary>
public sealed class SqliteAlertStore : IAlertStore
{
    private readonly SqliteDatabase _db;
    private readonly DeferredWrites _writes;
    private long _lastId;

    public SqliteAlertStore(SqliteDatabase db, ILogger<SqliteAlertStore> logger)
    {
        _db = db;
        _writes = new DeferredWrites(db.Open, logger);
        using var connection = db.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT COALESCE(MAX(id), 0) FROM alerts";
        _lastId = (long)cmd.ExecuteScalar()!;
    }

    public long NextId() => Interlocked.Increment(ref _lastId);

    /// <summary>Inserts or updates (by id) an alert, written in the background.</summary>
    public void Save(AlertRow alert) =>
        _writes.Enqueue((connection, tx) =>
        {
            using var cmd = ((SqliteConnection)connection).CreateCommand();
            cmd.Transaction = (SqliteTransaction)tx;
            cmd.CommandText = """
                INSERT INTO alerts (id, rule, metric, device_id, severity, state, message, value, raised_at_ms, cleared_at_ms,
                                    started_at_ms, occurrences, resolution, acknowledged_by, acknowledged_at_ms)
                VALUES ($id, $rule, $metric, $device, $severity, $state, $message, $value, $raised, $cleared,
                        $started, $occurrences, $resolution, $ackBy, $ackAt)
                ON CONFLICT(id) DO UPDATE SET state = excluded.state, message = excluded.message, cleared_at_ms = excluded.cleared_at_ms,
                    occurrences = excluded.occurrences, resolution = excluded.resolution,
                    -- An acknowledgement made on another node is kept when the owner saves the alert without it.
                    acknowledged_by = COALESCE(excluded.acknowledged_by, alerts.acknowledged_by),
                    acknowledged_at_ms = COALESCE(excluded.acknowledged_at_ms, alerts.acknowledged_at_ms)
                """;
            cmd.Parameters.AddWithValue("$id", alert.Id);
            cmd.Parameters.AddWithValue("$rule", alert.Rule);
            cmd.Parameters.AddWithValue("$metric", alert.Metric);
            cmd.Parameters.AddWithValue("$device", alert.DeviceId);
            cmd.Parameters.AddWithValue("$severity", alert.Severity);
            cmd.Parameters.AddWithValue("$state", alert.State);
            cmd.Parameters.AddWithValue("$message", alert.Message);
            cmd.Parameters.AddWithValue("$value", (object?)alert.Value ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$raised", alert.RaisedAt.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$cleared", (object?)alert.ClearedAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$started", alert.StartedAt.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$occurrences", alert.Occurrences);
            cmd.Parameters.AddWithValue("$resolution", (object?)alert.Resolution ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$ackBy", (object?)alert.AcknowledgedBy ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$ackAt", (object?)alert.AcknowledgedAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
            cmd.ExecuteNonQuery();
        });

    /// <summary>Newest first; state and device optional.</summary>
    public IReadOnlyList<AlertRow> List(string? state, string? deviceId, int limit)
    {
        _writes.Flush();
        using var connection = _db.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = $"""
            SELECT {Columns} FROM alerts
            WHERE ($state IS NULL OR state = $state) AND ($device IS NULL OR device_id = $device)
            ORDER BY id DESC LIMIT $n
            """;
        cmd.Parameters.AddWithValue("$state", (object?)state ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$device", (object?)deviceId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$n", limit);
        return Read(cmd);
    }

    public AlertRow? Get(long id)
    {
        _writes.Flush();
        using var connection = _db.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = $"SELECT {Columns} FROM alerts WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        return Read(cmd).FirstOrDefault();
    }

    public void Flush() => _writes.Flush();

    public void Dispose() => _writes.Dispose();

    private const string Columns = "id, rule, metric, device_id, severity, state, message, value, raised_at_ms, cleared_at_ms, "
        + "started_at_ms, occurrences, resolution, acknowledged_by, acknowledged_at_ms";

    private static List<AlertRow> Read(SqliteCommand cmd)
    {
        using var reader = cmd.ExecuteReader();
        var alerts = new List<AlertRow>();
        while (reader.Read())
        {
            alerts.Add(new AlertRow(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetString(5),
                reader.GetString(6),
                reader.IsDBNull(7) ? null : reader.GetDouble(7),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(8)),
                reader.IsDBNull(9) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(9)),
                // Alerts stored before started_at existed began when they were raised.
                DateTimeOffset.FromUnixTimeMilliseconds(reader.IsDBNull(10) ? reader.GetInt64(8) : reader.GetInt64(10)),
                reader.GetInt32(11),
                reader.IsDBNull(12) ? null : reader.GetString(12),
                reader.IsDBNull(13) ? null : reader.GetString(13),
                reader.IsDBNull(14) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(14))));
        }
        return alerts;
    }
}
