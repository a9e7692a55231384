using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>
/// The RPC audit log and the queue of persistent calls, in the gateway's SQLite file (feature "rpc").
/// Every status a call goes through is a row of rpc_history; status changes are compare-and-set.
/// </summary>
public sealed class SqliteRpcCallStore(SqliteDatabase db) : IRpcCallStore
{
    private const string Columns =
        "seq, id, device_id, endpoint, data, status, caller, role, persistent, timeout_ms, idempotency_key, idempotent_until, " +
        "created_at, updated_at, sent_at, completed_at, expires_at, result, error, duration_ms, ack_boot_id, confirm_deadline, node";

    public void Insert(RpcCallRow call)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO rpc_calls(id, device_id, endpoint, data, status, caller, role, persistent, timeout_ms, idempotency_key, idempotent_until,
                                  created_at, updated_at, sent_at, completed_at, expires_at, result, error, duration_ms, node)
            VALUES ($id, $device, $endpoint, $data, $status, $caller, $role, $persistent, $timeout, $key, $until,
                    $created, $updated, $sent, $completed, $expires, $result, $error, $duration, $node)
            RETURNING seq
            """;
        cmd.Parameters.AddWithValue("$id", call.Id);
        cmd.Parameters.AddWithValue("$device", call.DeviceId);
        cmd.Parameters.AddWithValue("$endpoint", call.Endpoint);
        cmd.Parameters.AddWithValue("$data", call.DataJson);
        cmd.Parameters.AddWithValue("$status", call.Status);
        cmd.Parameters.AddWithValue("$caller", call.Caller);
        cmd.Parameters.AddWithValue("$role", call.Role);
        cmd.Parameters.AddWithValue("$persistent", call.Persistent ? 1 : 0);
        cmd.Parameters.AddWithValue("$timeout", call.TimeoutMs);
        cmd.Parameters.AddWithValue("$key", (object?)call.IdempotencyKey ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$until", Ms(call.IdempotentUntil));
        cmd.Parameters.AddWithValue("$created", call.CreatedAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$updated", call.UpdatedAt.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$sent", Ms(call.SentAt));
        cmd.Parameters.AddWithValue("$completed", Ms(call.CompletedAt));
        cmd.Parameters.AddWithValue("$expires", Ms(call.ExpiresAt));
        cmd.Parameters.AddWithValue("$result", (object?)call.ResultJson ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$error", (object?)call.Error ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$duration", (object?)call.DurationMs ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$node", (object?)call.Node ?? DBNull.Value);
        var seq = (long)cmd.ExecuteScalar()!;
        foreach (var change in call.History) AddHistory(c, tx, seq, change.Status, change.At);
        tx.Commit();
    }

    /// <summary>Moves a call from one status to another; false when it was no longer in <paramref name="from"/>.</summary>
    public bool Transition(string id, string from, string to, DateTimeOffset now, RpcCallChange change)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            UPDATE rpc_calls SET status = $to, updated_at = $now,
              completed_at = CASE WHEN $completes THEN $now ELSE completed_at END,
              result = COALESCE($result, result),
              error = COALESCE($error, error),
              duration_ms = COALESCE($duration, duration_ms),
              sent_at = COALESCE($sent, sent_at),
              ack_boot_id = COALESCE($boot, ack_boot_id),
              confirm_deadline = COALESCE($deadline, confirm_deadline),
              node = COALESCE($node, node)
            WHERE id = $id AND status = $from
            RETURNING seq
            """;
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$from", from);
        cmd.Parameters.AddWithValue("$to", to);
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$completes", change.Completes ? 1 : 0);
        cmd.Parameters.AddWithValue("$result", (object?)change.ResultJson ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$error", (object?)change.Error ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$duration", (object?)change.DurationMs ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$sent", Ms(change.SentAt));
        cmd.Parameters.AddWithValue("$boot", (object?)change.AckBootId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$deadline", Ms(change.ConfirmDeadline));
        cmd.Parameters.AddWithValue("$node", (object?)change.Node ?? DBNull.Value);
        if (cmd.ExecuteScalar() is not long seq) return false;
        AddHistory(c, tx, seq, to, now);
        tx.Commit();
        return true;
    }

    /// <summary>Undoes queued → sent for a request that never left the gateway (the device vanished in between).</summary>
    public void RevertToQueued(string id)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            UPDATE rpc_calls SET status = 'queued', sent_at = NULL, node = NULL WHERE id = $id AND status = 'sent' RETURNING seq
            """;
        cmd.Parameters.AddWithValue("$id", id);
        if (cmd.ExecuteScalar() is long seq)
        {
            using var undo = c.CreateCommand();
            undo.Transaction = tx;
            undo.CommandText = "DELETE FROM rpc_history WHERE rowid = (SELECT MAX(rowid) FROM rpc_history WHERE call_seq = $seq AND status = 'sent')";
            undo.Parameters.AddWithValue("$seq", seq);
            undo.ExecuteNonQuery();
        }
        tx.Commit();
    }

    public RpcCallRow? Get(string id) => Query("WHERE id = $id", cmd => cmd.Parameters.AddWithValue("$id", id)).FirstOrDefault();

    /// <summary>The audit log, newest first; optionally one device's calls.</summary>
    public IReadOnlyList<RpcCallRow> List(string? deviceId, int limit) =>
        Query(
            (deviceId is null ? "" : "WHERE device_id = $device ") + "ORDER BY seq DESC LIMIT $limit",
            cmd =>
            {
                if (deviceId is not null) cmd.Parameters.AddWithValue("$device", deviceId);
                cmd.Parameters.AddWithValue("$limit", limit);
            });

    /// <summary>
    /// The newest call of this device with this key whose idempotency window is still open. A call that failed
    /// without ever being sent (device_offline) does not count: nothing ran, so a retry must really try again.
    /// </summary>
    public RpcCallRow? FindByIdempotencyKey(string deviceId, string key, DateTimeOffset now) =>
        Query("""
            WHERE device_id = $device AND idempotency_key = $key AND idempotent_until > $now
              AND NOT (status = 'failed' AND sent_at IS NULL)
            ORDER BY seq DESC LIMIT 1
            """, cmd =>
        {
            cmd.Parameters.AddWithValue("$device", deviceId);
            cmd.Parameters.AddWithValue("$key", key);
            cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        }).FirstOrDefault();

    /// <summary>The oldest queued call of a device that has not expired: persistent calls are delivered in the order they were made.</summary>
    public RpcCallRow? NextQueued(string deviceId, DateTimeOffset now) =>
        Query("WHERE status = 'queued' AND device_id = $device AND expires_at > $now ORDER BY seq LIMIT 1", cmd =>
        {
            cmd.Parameters.AddWithValue("$device", deviceId);
            cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        }).FirstOrDefault();

    public int CountQueued(string? deviceId)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = deviceId is null
            ? "SELECT COUNT(*) FROM rpc_calls WHERE status = 'queued'"
            : "SELECT COUNT(*) FROM rpc_calls WHERE status = 'queued' AND device_id = $device";
        if (deviceId is not null) cmd.Parameters.AddWithValue("$device", deviceId);
        return (int)(long)cmd.ExecuteScalar()!;
    }

    /// <summary>Devices that have calls waiting (sweeps re-offer them to connected devices).</summary>
    public IReadOnlyList<string> DevicesWithQueuedCalls() =>
        Strings("SELECT DISTINCT device_id FROM rpc_calls WHERE status = 'queued'", null);

    /// <summary>Ids of calls in a status, optionally of one device and only those whose time column is due.</summary>
    public IReadOnlyList<string> IdsInStatus(string status, string? deviceId = null, RpcDeadline due = RpcDeadline.None, DateTimeOffset? now = null)
    {
        var dueColumn = due switch
        {
            RpcDeadline.Expiry => "expires_at",
            RpcDeadline.RebootConfirmation => "confirm_deadline",
            _ => null,
        };
        return Strings(
            "SELECT id FROM rpc_calls WHERE status = $status"
            + (deviceId is null ? "" : " AND device_id = $device")
            + (dueColumn is null ? "" : $" AND {dueColumn} <= $now")
            + " ORDER BY seq",
            cmd =>
            {
                cmd.Parameters.AddWithValue("$status", status);
                if (deviceId is not null) cmd.Parameters.AddWithValue("$device", deviceId);
                if (now is { } n) cmd.Parameters.AddWithValue("$now", n.ToUnixTimeMilliseconds());
            });
    }

    public IReadOnlyList<string> SentIdsOf(string? node, DateTimeOffset? sentBefore = null) =>
        Strings(
            "SELECT id FROM rpc_calls WHERE status = 'sent' AND " + (node is null ? "node IS NULL" : "node = $node")
            + (sentBefore is null ? "" : " AND sent_at < $before") + " ORDER BY seq",
            cmd =>
            {
                if (node is not null) cmd.Parameters.AddWithValue("$node", node);
                if (sentBefore is { } b) cmd.Parameters.AddWithValue("$before", b.ToUnixTimeMilliseconds());
            });

    public IReadOnlyList<string> NodesWithSentCalls() =>
        Strings("SELECT DISTINCT node FROM rpc_calls WHERE status = 'sent' AND node IS NOT NULL", null);

    /// <summary>Deletes calls that finished before the cutoff (with their history); open calls are kept whatever their age.</summary>
    public int DeleteFinishedBefore(DateTimeOffset cutoff)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            DELETE FROM rpc_calls WHERE created_at < $cutoff AND status NOT IN ('queued', 'sent', 'rebooting')
            """;
        cmd.Parameters.AddWithValue("$cutoff", cutoff.ToUnixTimeMilliseconds());
        return cmd.ExecuteNonQuery();
    }

    private IReadOnlyList<string> Strings(string sql, Action<SqliteCommand>? bind)
    {
        using var c = db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        bind?.Invoke(cmd);
        using var r = cmd.ExecuteReader();
        var list = new List<string>();
        while (r.Read()) list.Add(r.GetString(0));
        return list;
    }

    private List<RpcCallRow> Query(string where, Action<SqliteCommand> bind)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction(deferred: true);
        var rows = new List<(long Seq, RpcCallRow Call)>();
        using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT {Columns} FROM rpc_calls {where}";
            bind(cmd);
            using var r = cmd.ExecuteReader();
            while (r.Read()) rows.Add((r.GetInt64(0), Read(r)));
        }
        if (rows.Count == 0) return [];

        var history = new Dictionary<long, List<RpcStatusRow>>();
        using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            var names = new List<string>();
            for (var i = 0; i < rows.Count; i++)
            {
                names.Add("$s" + i);
                cmd.Parameters.AddWithValue("$s" + i, rows[i].Seq);
            }
            cmd.CommandText = $"SELECT call_seq, status, at FROM rpc_history WHERE call_seq IN ({string.Join(',', names)}) ORDER BY rowid";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var seq = r.GetInt64(0);
                if (!history.TryGetValue(seq, out var list)) history[seq] = list = [];
                list.Add(new RpcStatusRow(r.GetString(1), FromMs(r.GetInt64(2))));
            }
        }
        return rows.Select(row => row.Call with { History = history.GetValueOrDefault(row.Seq) ?? [] }).ToList();
    }

    private static RpcCallRow Read(SqliteDataReader r) => new()
    {
        Id = r.GetString(1),
        DeviceId = r.GetString(2),
        Endpoint = r.GetString(3),
        DataJson = r.GetString(4),
        Status = r.GetString(5),
        Caller = r.GetString(6),
        Role = r.GetString(7),
        Persistent = r.GetInt64(8) != 0,
        TimeoutMs = r.GetInt64(9),
        IdempotencyKey = r.IsDBNull(10) ? null : r.GetString(10),
        IdempotentUntil = OptionalTime(r, 11),
        CreatedAt = FromMs(r.GetInt64(12)),
        UpdatedAt = FromMs(r.GetInt64(13)),
        SentAt = OptionalTime(r, 14),
        CompletedAt = OptionalTime(r, 15),
        ExpiresAt = OptionalTime(r, 16),
        ResultJson = r.IsDBNull(17) ? null : r.GetString(17),
        Error = r.IsDBNull(18) ? null : r.GetString(18),
        DurationMs = r.IsDBNull(19) ? null : r.GetInt64(19),
        AckBootId = r.IsDBNull(20) ? null : r.GetInt64(20),
        ConfirmDeadline = OptionalTime(r, 21),
        Node = r.IsDBNull(22) ? null : r.GetString(22),
    };

    private static void AddHistory(SqliteConnection c, SqliteTransaction tx, long seq, string status, DateTimeOffset at)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO rpc_history(call_seq, status, at) VALUES ($seq, $status, $at)";
        cmd.Parameters.AddWithValue("$seq", seq);
        cmd.Parameters.AddWithValue("$status", status);
        cmd.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
        cmd.ExecuteNonQuery();
    }

    private static object Ms(DateTimeOffset? t) => t is { } v ? v.ToUnixTimeMilliseconds() : DBNull.Value;

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static DateTimeOffset? OptionalTime(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : FromMs(r.GetInt64(i));
}
