using System.Data;
using Npgsql;

namespace IotWs.Gateway.Storage.Postgres;

/// <summary>
/// The RPC audit log and the queue of persistent calls in PostgreSQL (feature "rpc"). Status changes are
/// compare-and-set in one statement, so gateways sharing the database cannot move a call twice.
/// </summary>
public sealed class PostgresRpcCallStore(PostgresDatabase db) : IRpcCallStore
{
    private const string Columns =
        "seq, id, device_id, endpoint, data, status, caller, role, persistent, timeout_ms, idempotency_key, idempotent_until, " +
        "created_at, updated_at, sent_at, completed_at, expires_at, result, error, duration_ms, ack_boot_id, confirm_deadline, node";

    public void Insert(RpcCallRow call)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        long seq;
        using (var cmd = Pg.Command(c, """
            INSERT INTO rpc_calls (id, device_id, endpoint, data, status, caller, role, persistent, timeout_ms, idempotency_key, idempotent_until,
                                   created_at, updated_at, sent_at, completed_at, expires_at, result, error, duration_ms, node)
            VALUES (@id, @device, @endpoint, @data, @status, @caller, @role, @persistent, @timeout, @key, @until,
                    @created, @updated, @sent, @completed, @expires, @result, @error, @duration, @node)
            RETURNING seq
            """, tx)
            .Text("id", call.Id).Text("device", call.DeviceId).Text("endpoint", call.Endpoint).Text("data", call.DataJson)
            .Text("status", call.Status).Text("caller", call.Caller).Text("role", call.Role).Bool("persistent", call.Persistent)
            .Long("timeout", call.TimeoutMs).Text("key", call.IdempotencyKey).Time("until", call.IdempotentUntil)
            .Time("created", call.CreatedAt).Time("updated", call.UpdatedAt).Time("sent", call.SentAt).Time("completed", call.CompletedAt)
            .Time("expires", call.ExpiresAt).Text("result", call.ResultJson).Text("error", call.Error).Long("duration", call.DurationMs).Text("node", call.Node))
        {
            seq = (long)cmd.ExecuteScalar()!;
        }
        foreach (var change in call.History) AddHistory(c, tx, seq, change.Status, change.At);
        tx.Commit();
    }

    public bool Transition(string id, string from, string to, DateTimeOffset now, RpcCallChange change)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, """
            WITH moved AS (
              UPDATE rpc_calls SET status = @to, updated_at = @now,
                completed_at = CASE WHEN @completes THEN @now ELSE completed_at END,
                result = COALESCE(@result, result),
                error = COALESCE(@error, error),
                duration_ms = COALESCE(@duration, duration_ms),
                sent_at = COALESCE(@sent, sent_at),
                ack_boot_id = COALESCE(@boot, ack_boot_id),
                confirm_deadline = COALESCE(@deadline, confirm_deadline),
                node = COALESCE(@node, node)
              WHERE id = @id AND status = @from
              RETURNING seq)
            INSERT INTO rpc_history (call_seq, status, at) SELECT seq, @to, @now FROM moved
            """)
            .Text("id", id).Text("from", from).Text("to", to).Time("now", now).Bool("completes", change.Completes)
            .Text("result", change.ResultJson).Text("error", change.Error).Long("duration", change.DurationMs)
            .Time("sent", change.SentAt).Long("boot", change.AckBootId).Time("deadline", change.ConfirmDeadline).Text("node", change.Node);
        return cmd.ExecuteNonQuery() == 1;
    }

    public void RevertToQueued(string id)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, """
            WITH reverted AS (
              UPDATE rpc_calls SET status = 'queued', sent_at = NULL, node = NULL WHERE id = @id AND status = 'sent' RETURNING seq)
            DELETE FROM rpc_history WHERE id = (
              SELECT max(h.id) FROM rpc_history h JOIN reverted r ON h.call_seq = r.seq WHERE h.status = 'sent')
            """).Text("id", id);
        cmd.ExecuteNonQuery();
    }

    public RpcCallRow? Get(string id) => Query("WHERE id = @id", cmd => cmd.Text("id", id)).FirstOrDefault();

    public IReadOnlyList<RpcCallRow> List(string? deviceId, int limit) =>
        Query((deviceId is null ? "" : "WHERE device_id = @device ") + "ORDER BY seq DESC LIMIT @limit", cmd =>
        {
            if (deviceId is not null) cmd.Text("device", deviceId);
            cmd.Int("limit", limit);
        });

    public RpcCallRow? FindByIdempotencyKey(string deviceId, string key, DateTimeOffset now) =>
        Query("""
            WHERE device_id = @device AND idempotency_key = @key AND idempotent_until > @now
              AND NOT (status = 'failed' AND sent_at IS NULL)
            ORDER BY seq DESC LIMIT 1
            """, cmd => cmd.Text("device", deviceId).Text("key", key).Time("now", now)).FirstOrDefault();

    public RpcCallRow? NextQueued(string deviceId, DateTimeOffset now) =>
        Query("WHERE status = 'queued' AND device_id = @device AND expires_at > @now ORDER BY seq LIMIT 1",
            cmd => cmd.Text("device", deviceId).Time("now", now)).FirstOrDefault();

    public int CountQueued(string? deviceId)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "SELECT count(*) FROM rpc_calls WHERE status = 'queued' AND (@device IS NULL OR device_id = @device)").Text("device", deviceId);
        return (int)(long)cmd.ExecuteScalar()!;
    }

    public IReadOnlyList<string> DevicesWithQueuedCalls() =>
        Strings("SELECT DISTINCT device_id FROM rpc_calls WHERE status = 'queued'", _ => { });

    public IReadOnlyList<string> IdsInStatus(string status, string? deviceId = null, RpcDeadline due = RpcDeadline.None, DateTimeOffset? now = null)
    {
        var dueColumn = due switch
        {
            RpcDeadline.Expiry => "expires_at",
            RpcDeadline.RebootConfirmation => "confirm_deadline",
            _ => null,
        };
        return Strings(
            "SELECT id FROM rpc_calls WHERE status = @status"
            + (deviceId is null ? "" : " AND device_id = @device")
            + (dueColumn is null ? "" : $" AND {dueColumn} <= @now")
            + " ORDER BY seq",
            cmd =>
            {
                cmd.Text("status", status);
                if (deviceId is not null) cmd.Text("device", deviceId);
                if (dueColumn is not null) cmd.Time("now", now ?? DateTimeOffset.UtcNow);
            });
    }

    public IReadOnlyList<string> SentIdsOf(string? node, DateTimeOffset? sentBefore = null) =>
        Strings(
            "SELECT id FROM rpc_calls WHERE status = 'sent' AND " + (node is null ? "node IS NULL" : "node = @node")
            + (sentBefore is null ? "" : " AND sent_at < @before") + " ORDER BY seq",
            cmd =>
            {
                if (node is not null) cmd.Text("node", node);
                if (sentBefore is not null) cmd.Time("before", sentBefore);
            });

    public IReadOnlyList<string> NodesWithSentCalls() =>
        Strings("SELECT DISTINCT node FROM rpc_calls WHERE status = 'sent' AND node IS NOT NULL", _ => { });

    public int DeleteFinishedBefore(DateTimeOffset cutoff)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, "DELETE FROM rpc_calls WHERE created_at < @cutoff AND status NOT IN ('queued', 'sent', 'rebooting')").Time("cutoff", cutoff);
        return cmd.ExecuteNonQuery();
    }

    private IReadOnlyList<string> Strings(string sql, Action<NpgsqlCommand> bind)
    {
        using var c = db.Open();
        using var cmd = Pg.Command(c, sql);
        bind(cmd);
        using var r = cmd.ExecuteReader();
        var list = new List<string>();
        while (r.Read()) list.Add(r.GetString(0));
        return list;
    }

    private List<RpcCallRow> Query(string where, Action<NpgsqlCommand> bind)
    {
        using var c = db.Open();
        // The calls and their history from one snapshot.
        using var tx = c.BeginTransaction(IsolationLevel.RepeatableRead);
        var rows = new List<(long Seq, RpcCallRow Call)>();
        using (var cmd = Pg.Command(c, $"SELECT {Columns} FROM rpc_calls {where}", tx))
        {
            bind(cmd);
            using var r = cmd.ExecuteReader();
            while (r.Read()) rows.Add((r.GetInt64(0), Read(r)));
        }
        if (rows.Count == 0) return [];
        var history = new Dictionary<long, List<RpcStatusRow>>();
        using (var cmd = Pg.Command(c, "SELECT call_seq, status, at FROM rpc_history WHERE call_seq = ANY(@seqs) ORDER BY id", tx))
        {
            cmd.Parameters.AddWithValue("seqs", rows.Select(r => r.Seq).ToArray());
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var seq = r.GetInt64(0);
                if (!history.TryGetValue(seq, out var list)) history[seq] = list = [];
                list.Add(new RpcStatusRow(r.GetString(1), Pg.FromMs(r.GetInt64(2))));
            }
        }
        tx.Commit();
        return rows.Select(row => row.Call with { History = history.GetValueOrDefault(row.Seq) ?? [] }).ToList();
    }

    private static RpcCallRow Read(NpgsqlDataReader r) => new()
    {
        Id = r.GetString(1),
        DeviceId = r.GetString(2),
        Endpoint = r.GetString(3),
        DataJson = r.GetString(4),
        Status = r.GetString(5),
        Caller = r.GetString(6),
        Role = r.GetString(7),
        Persistent = r.GetBoolean(8),
        TimeoutMs = r.GetInt64(9),
        IdempotencyKey = Pg.OptionalText(r, 10),
        IdempotentUntil = Pg.OptionalTime(r, 11),
        CreatedAt = Pg.FromMs(r.GetInt64(12)),
        UpdatedAt = Pg.FromMs(r.GetInt64(13)),
        SentAt = Pg.OptionalTime(r, 14),
        CompletedAt = Pg.OptionalTime(r, 15),
        ExpiresAt = Pg.OptionalTime(r, 16),
        ResultJson = Pg.OptionalText(r, 17),
        Error = Pg.OptionalText(r, 18),
        DurationMs = Pg.OptionalLong(r, 19),
        AckBootId = Pg.OptionalLong(r, 20),
        ConfirmDeadline = Pg.OptionalTime(r, 21),
        Node = Pg.OptionalText(r, 22),
    };

    private static void AddHistory(NpgsqlConnection c, NpgsqlTransaction tx, long seq, string status, DateTimeOffset at)
    {
        using var cmd = Pg.Command(c, "INSERT INTO rpc_history (call_seq, status, at) VALUES (@seq, @status, @at)", tx)
            .Long("seq", seq).Text("status", status).Time("at", at);
        cmd.ExecuteNonQuery();
    }
}
