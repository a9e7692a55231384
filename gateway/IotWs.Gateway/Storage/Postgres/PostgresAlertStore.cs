using Npgsql;

namespace IotWs.Gateway.Storage.Postgres;

/// <summary>Alerts in PostgreSQL (feature "alerts"); ids come from a sequence, so they are unique across gateways, and saves are written in the background.</summary>
public sealed class PostgresAlertStore : IAlertStore
{
    private const string Columns = "id, rule, metric, device_id, severity, state, message, value, raised_at_ms, cleared_at_ms, "
        + "started_at_ms, occurrences, resolution, acknowledged_by, acknowledged_at_ms";

    private readonly PostgresDatabase _db;
    private readonly DeferredWrites _writes;

    public PostgresAlertStore(PostgresDatabase db, ILogger<PostgresAlertStore> logger)
    {
        _db = db;
        _writes = new DeferredWrites(db.Open, logger);
    }

    public long NextId()
    {
        using var c = _db.Open();
        using var cmd = Pg.Command(c, "SELECT nextval('alert_ids')");
        return (long)cmd.ExecuteScalar()!;
    }

    public void Save(AlertRow alert) =>
        _writes.Enqueue((connection, tx) =>
        {
            using var cmd = Pg.Command((NpgsqlConnection)connection, $"""
                INSERT INTO alerts ({Columns})
                VALUES (@id, @rule, @metric, @device, @severity, @state, @message, @value, @raised, @cleared,
                        @started, @occurrences, @resolution, @ackBy, @ackAt)
                ON CONFLICT (id) DO UPDATE SET state = excluded.state, message = excluded.message, cleared_at_ms = excluded.cleared_at_ms,
                    occurrences = excluded.occurrences, resolution = excluded.resolution,
                    -- An acknowledgement made on another node is kept when the owner saves the alert without it.
                    acknowledged_by = COALESCE(excluded.acknowledged_by, alerts.acknowledged_by),
                    acknowledged_at_ms = COALESCE(excluded.acknowledged_at_ms, alerts.acknowledged_at_ms)
                """, (NpgsqlTransaction)tx)
                .Long("id", alert.Id).Text("rule", alert.Rule).Text("metric", alert.Metric).Text("device", alert.DeviceId)
                .Text("severity", alert.Severity).Text("state", alert.State).Text("message", alert.Message).Double("value", alert.Value)
                .Time("raised", alert.RaisedAt).Time("cleared", alert.ClearedAt).Time("started", alert.StartedAt).Int("occurrences", alert.Occurrences)
                .Text("resolution", alert.Resolution).Text("ackBy", alert.AcknowledgedBy).Time("ackAt", alert.AcknowledgedAt);
            cmd.ExecuteNonQuery();
        });

    public IReadOnlyList<AlertRow> List(string? state, string? deviceId, int limit)
    {
        _writes.Flush();
        using var c = _db.Open();
        using var cmd = Pg.Command(c, $"""
            SELECT {Columns} FROM alerts
            WHERE (@state IS NULL OR state = @state) AND (@device IS NULL OR device_id = @device)
            ORDER BY id DESC LIMIT @n
            """).Text("state", state).Text("device", deviceId).Int("n", limit);
        return Read(cmd);
    }

    public AlertRow? Get(long id)
    {
        _writes.Flush();
        using var c = _db.Open();
        using var cmd = Pg.Command(c, $"SELECT {Columns} FROM alerts WHERE id = @id").Long("id", id);
        return Read(cmd).FirstOrDefault();
    }

    public void Flush() => _writes.Flush();

    public void Dispose() => _writes.Dispose();

    private static List<AlertRow> Read(NpgsqlCommand cmd)
    {
        using var r = cmd.ExecuteReader();
        var alerts = new List<AlertRow>();
        while (r.Read())
        {
            alerts.Add(new AlertRow(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetString(6),
                r.IsDBNull(7) ? null : r.GetDouble(7), Pg.FromMs(r.GetInt64(8)), Pg.OptionalTime(r, 9), Pg.FromMs(r.GetInt64(10)), r.GetInt32(11),
                Pg.OptionalText(r, 12), Pg.OptionalText(r, 13), Pg.OptionalTime(r, 14)));
        }
        return alerts;
    }
}
