using System.Text.Json.Nodes;
using IotWs.Gateway.Devices;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Alerts;

/// <summary>An alert: raised once when its rule's condition has held long enough, cleared once when it recovers.</summary>
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

    /// <summary>{"id","rule","deviceId","severity","state","message","value","raisedAt","clearedAt"} as published and listed.</summary>
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
                INSERT INTO alerts (id, rule, metric, device_id, severity, state, message, value, raised_at_ms, cleared_at_ms)
                VALUES ($id, $rule, $metric, $device, $severity, $state, $message, $value, $raised, $cleared)
                ON CONFLICT(id) DO UPDATE SET state = excluded.state, message = excluded.message, cleared_at_ms = excluded.cleared_at_ms
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
            cmd.ExecuteNonQuery();
        });

    /// <summary>Newest first; state and device optional.</summary>
    public IReadOnlyList<Alert> List(string? state, string? deviceId, int limit)
    {
        _writes.Flush();
        using var connection = _db.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = """
            SELECT id, rule, metric, device_id, severity, state, message, value, raised_at_ms, cleared_at_ms FROM alerts
            WHERE ($state IS NULL OR state = $state) AND ($device IS NULL OR device_id = $device)
            ORDER BY id DESC LIMIT $n
            """;
        cmd.Parameters.AddWithValue("$state", (object?)state ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$device", (object?)deviceId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$n", limit);
        return Read(cmd);
    }

    public IReadOnlyList<Alert> Active() => List(Alert.Active, null, int.MaxValue);

    public void Flush() => _writes.Flush();

    public void Dispose() => _writes.Dispose();

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
                reader.IsDBNull(9) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(9))));
        }
        return alerts;
    }
}
