using System.Text.Json.Nodes;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Alerts;

/// <summary>
/// An alert: raised once when its rule's condition has held long enough, cleared once when it recovers.
/// Message says what was wrong and stays when the alert clears; Resolution says how it ended.
/// </summary>
public sealed record Alert(
    long Id,
    string Rule,
    string Metric,
    string DeviceId,
    string Severity,
    string State,
    string Message,
    double? Value,
    DateTimeOffset RaisedAt,
    DateTimeOffset? ClearedAt)
{
    public const string Active = "active";
    public const string Cleared = "cleared";

    /// <summary>When the condition began (before RaisedAt by the rule's wait): the start of the alert's duration.</summary>
    public DateTimeOffset StartedAt { get; init; } = RaisedAt;
    /// <summary>How many times the condition happened; above 1 for a flapping summary.</summary>
    public int Occurrences { get; init; } = 1;
    /// <summary>How the alert ended ("back online after 4 min"); null while active.</summary>
    public string? Resolution { get; init; }
    public string? AcknowledgedBy { get; init; }
    public DateTimeOffset? AcknowledgedAt { get; init; }

    /// <summary>The alert object as published and listed (see docs/pubsub.md).</summary>
    public JsonObject ToJson() => new()
    {
        ["id"] = Id,
        ["rule"] = Rule,
        [Fields.DeviceId] = DeviceId,
        ["severity"] = Severity,
        ["state"] = State,
        [Fields.Message] = Message,
        ["value"] = Value,
        ["raisedAt"] = WireJson.Time(RaisedAt),
        ["clearedAt"] = ClearedAt is { } c ? WireJson.Time(c) : null,
        ["startedAt"] = WireJson.Time(StartedAt),
        ["durationSeconds"] = ClearedAt is { } end ? Math.Round((end - StartedAt).TotalSeconds) : null,
        ["occurrences"] = Occurrences,
        ["resolution"] = Resolution,
        ["acknowledgedBy"] = AcknowledgedBy,
        ["acknowledgedAt"] = AcknowledgedAt is { } a ? WireJson.Time(a) : null,
    };
}

/// <summary>Alerts in SQLite (feature "alerts"). Ids are given out in memory so an alert can be published before its row is written.</summary>
public sealed class AlertStore : IDisposable
{
    public sealed class Schema : ISchemaMigration
    {
        public string Feature => "alerts";

        public IReadOnlyList<string> Steps { get; } =
        [
            """
            CREATE TABLE alerts (
                id INTEGER PRIMARY KEY,
                rule TEXT NOT NULL,
                metric TEXT NOT NULL,
                device_id TEXT NOT NULL,
                severity TEXT NOT NULL,
                state TEXT NOT NULL,
                message TEXT NOT NULL,
                value REAL,
                raised_at_ms INTEGER NOT NULL,
                cleared_at_ms INTEGER
            )
            """,
            "CREATE INDEX alerts_state ON alerts (state, id)",
            "ALTER TABLE alerts ADD COLUMN started_at_ms INTEGER",
            "ALTER TABLE alerts ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE alerts ADD COLUMN resolution TEXT",
            "ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT",
            "ALTER TABLE alerts ADD COLUMN acknowledged_at_ms INTEGER",
        ];
    }

    private readonly GatewayDatabase _db;
    private readonly DeferredWrites _writes;
    private long _lastId;

    public AlertStore(GatewayDatabase db, ILogger<AlertStore> logger)
    {
        _db = db;
        _writes = new DeferredWrites(db, logger);
        using var connection = db.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT COALESCE(MAX(id), 0) FROM alerts";
        _lastId = (long)cmd.ExecuteScalar()!;
    }

    public long NextId() => Interlocked.Increment(ref _lastId);

    /// <summary>Inserts or updates (by id) an alert, written in the background.</summary>
    public void Save(Alert alert) =>
        _writes.Enqueue((connection, tx) =>
        {
            using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO alerts (id, rule, metric, device_id, severity, state, message, value, raised_at_ms, cleared_at_ms,
                                    started_at_ms, occurrences, resolution, acknowledged_by, acknowledged_at_ms)
                VALUES ($id, $rule, $metric, $device, $severity, $state, $message, $value, $raised, $cleared,
                        $started, $occurrences, $resolution, $ackBy, $ackAt)
                ON CONFLICT(id) DO UPDATE SET state = excluded.state, message = excluded.message, cleared_at_ms = excluded.cleared_at_ms,
                    occurrences = excluded.occurrences, resolution = excluded.resolution,
                    acknowledged_by = excluded.acknowledged_by, acknowledged_at_ms = excluded.acknowledged_at_ms
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
    public IReadOnlyList<Alert> List(string? state, string? deviceId, int limit)
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

    public IReadOnlyList<Alert> Active() => List(Alert.Active, null, int.MaxValue);

    public Alert? Get(long id)
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

    private static List<Alert> Read(SqliteCommand cmd)
    {
        using var reader = cmd.ExecuteReader();
        var alerts = new List<Alert>();
        while (reader.Read())
        {
            alerts.Add(new Alert(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetString(5),
                reader.GetString(6),
                reader.IsDBNull(7) ? null : reader.GetDouble(7),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(8)),
                reader.IsDBNull(9) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(9)))
            {
                // Alerts stored before started_at existed began when they were raised.
                StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.IsDBNull(10) ? reader.GetInt64(8) : reader.GetInt64(10)),
                Occurrences = reader.GetInt32(11),
                Resolution = reader.IsDBNull(12) ? null : reader.GetString(12),
                AcknowledgedBy = reader.IsDBNull(13) ? null : reader.GetString(13),
                AcknowledgedAt = reader.IsDBNull(14) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(14)),
            });
        }
        return alerts;
    }
}
