using System.Diagnostics;
using System.Globalization;
using IotWs.Gateway.Configuration;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using SQLitePCL;
using static IotWs.Gateway.Storage.RollupBuckets;

namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>
/// Readings and events in the gateway's SQLite file. Commits come from one writer thread on a dedicated
/// connection; duplicates are found through <see cref="PendingIndex"/> and reading_keys, so the hot insert
/// touches only the heap and a few sorted per-device runs. Rollup deltas are gathered in memory and written every
/// Storage:RollupFlushInterval; readings committed since (id above rollup_through) are aggregated from the heap by
/// queries and by crash recovery, so rollups always equal the aggregates of the raw rows.
/// </summary>
public sealed class SqliteReadingStore : IReadingStore, IDisposable
{
    private const string IndexedThroughKey = "indexed_through";
    private const string LastReadingKey = "last_reading_id";
    private const string LastEventKey = "last_event_id";
    private const string RollupThroughKey = "rollup_through";
    private const int MaxRollupGroups = 100_000;
    private const string Through = "(SELECT COALESCE((SELECT value FROM readings_meta WHERE key = 'indexed_through'), 0))";
    private const string RowColumns = "id, device_id, seq, boot_id, ts, device_ts, temperature, humidity, sensor_id, location";

    private readonly SqliteDatabase _db;
    private readonly StorageOptions _options;
    private readonly IStoredFieldReader _protector;
    private readonly PendingIndex _pending;
    private readonly Dictionary<(long Bucket, string Device), Aggregate> _minute = [];
    private readonly Dictionary<(long Bucket, string Device), Aggregate> _hour = [];
    private readonly List<PendingIndex.DeviceRun> _runs = [];
    private readonly Dictionary<string, byte[]> _utf8 = new(StringComparer.Ordinal);
    private readonly Func<string, long, long> _loadHighWater;
    private readonly Func<string, long, long, long?> _lookupKey;
    private SqliteConnection? _connection;
    private WriterCommands? _sql;
    private long _lastReadingId;
    private long _lastEventId;
    private long _persistedThrough = -1;
    private long _rollupsFlushedAt;
    private readonly long _rollupFlushTicks;
    private bool _needsRecovery = true;

    public SqliteReadingStore(SqliteDatabase db, IOptions<GatewayOptions> options, IStoredFieldReader protector)
    {
        _db = db;
        _options = options.Value.Storage;
        _protector = protector;
        _pending = new PendingIndex(_options.IndexMergeRun, _options.IndexMergeDelay);
        _rollupFlushTicks = (long)(_options.RollupFlushInterval.TotalSeconds * Stopwatch.Frequency);
        _loadHighWater = LoadHighWater;
        _lookupKey = LookupKey;
    }

    public long LastReadingId => Volatile.Read(ref _lastReadingId);

    /// <summary>Index entries waiting in memory (for /api/status).</summary>
    public int PendingIndexEntries => Volatile.Read(ref _pendingCount);
    private int _pendingCount;

    /// <summary>The writer connection's page cache in KiB as SQLite reports it (PRAGMA cache_size); call from the writer's thread.</summary>
    internal long WriterCacheSizeKiB()
    {
        using var command = (_connection ?? throw new InvalidOperationException("Open the store first.")).CreateCommand();
        command.CommandText = "PRAGMA cache_size;";
        return -(long)command.ExecuteScalar()!;
    }

    public void Open()
    {
        if (_connection is not null) return;
        _connection = _db.Open();
        var sync = string.Equals(_options.Synchronous, "Normal", StringComparison.OrdinalIgnoreCase) ? "NORMAL" : "FULL";
        Execute(_connection, null, $"PRAGMA synchronous={sync}; PRAGMA cache_size=-{_options.CacheSizeKiB}; PRAGMA temp_store=MEMORY;");
        _sql = new WriterCommands(_connection);
        Recover();
    }

    public void Commit(WriteBatch batch)
    {
        var sql = _sql ?? throw new InvalidOperationException("Open the store before committing.");
        if (_needsRecovery) Recover();
        var now = Stopwatch.GetTimestamp();
        using var tx = _connection!.BeginTransaction();
        try
        {
            sql.Enlist(tx);
            batch.ReadingOutcomes.Clear();
            batch.EventIds.Clear();
            var rows = batch.Readings.Count;
            foreach (var reading in batch.Readings) batch.ReadingOutcomes.Add(StoreReading(sql, reading, now));
            foreach (var e in batch.Events) batch.EventIds.Add(StoreEvent(sql, e));
            // Rollups: one upsert per (bucket, device) every flush interval instead of one per commit.
            if (now - _rollupsFlushedAt >= _rollupFlushTicks || _minute.Count + _hour.Count > MaxRollupGroups) FlushRollups(sql, now);

            _runs.Clear();
            _pending.Take(Math.Max(256, 2 * rows), now, _runs);
            foreach (var run in _runs) WriteRun(sql, run);
            _pending.Written(_runs);
            var through = _pending.IndexedThrough(_lastReadingId);
            if (through != _persistedThrough) SetMeta(sql, IndexedThroughKey, through);
            tx.Commit();
            _persistedThrough = through;
            Volatile.Write(ref _pendingCount, _pending.Count);
        }
        catch
        {
            // Rolled back (tx disposed): forget what memory says and rebuild it from the file before the next commit.
            batch.ReadingOutcomes.Clear();
            batch.EventIds.Clear();
            _needsRecovery = true;
            _pending.Reset();
            _minute.Clear();
            _hour.Clear();
            throw;
        }
    }

    public void Flush()
    {
        if (_sql is null || _needsRecovery) return;
        // Writing every pending run now leaves nothing for the next start to recover.
        using var tx = _connection!.BeginTransaction();
        _sql.Enlist(tx);
        _runs.Clear();
        _pending.Take(int.MaxValue, long.MaxValue, _runs);
        foreach (var run in _runs) WriteRun(_sql, run);
        _pending.Written(_runs);
        SetMeta(_sql, IndexedThroughKey, _pending.IndexedThrough(_lastReadingId));
        FlushRollups(_sql, Stopwatch.GetTimestamp());
        tx.Commit();
        _persistedThrough = _lastReadingId;
        Volatile.Write(ref _pendingCount, _pending.Count);
    }

    public async Task<ReadingRow?> LatestAsync(string deviceId, CancellationToken ct)
    {
        var rows = await QueryRowsAsync($"""
            SELECT {RowColumns} FROM readings WHERE id IN (
              SELECT id FROM (SELECT id FROM reading_index WHERE device_id = $d ORDER BY ts DESC, id DESC LIMIT 1)
              UNION ALL
              SELECT id FROM readings WHERE id > {Through} AND device_id = $d)
            ORDER BY ts DESC, id DESC LIMIT 1
            """, deviceId, 0, 0, 1, ct);
        return rows.Count == 0 ? null : rows[0];
    }

    public async Task<long?> HighestBootIdAsync(string deviceId, CancellationToken ct)
    {
        await using var c = _db.Open();
        await using var cmd = c.CreateCommand();
        // reading_keys is keyed (device, boot, seq), so its max is one seek; rows not merged yet are in the heap's short tail.
        cmd.CommandText = $"""
            SELECT max(b) FROM (
              SELECT max(boot_id) AS b FROM reading_keys WHERE device_id = $d
              UNION ALL
              SELECT max(boot_id) FROM readings WHERE id > {Through} AND device_id = $d)
            """;
        cmd.Parameters.AddWithValue("$d", deviceId);
        return await cmd.ExecuteScalarAsync(ct) is long boot ? boot : null;
    }

    public async Task<IReadOnlyList<ReadingRow>> ReadingsAsync(string deviceId, DateTimeOffset from, DateTimeOffset to, int limit, CancellationToken ct)
    {
        // The per-device index holds everything up to indexed_through; newer rows are found in the heap's short tail.
        var rows = await QueryRowsAsync($"""
            SELECT {RowColumns} FROM readings WHERE id IN (
              SELECT id FROM (SELECT id FROM reading_index WHERE device_id = $d AND ts BETWEEN $from AND $to ORDER BY ts DESC, id DESC LIMIT $limit)
              UNION ALL
              SELECT id FROM readings WHERE id > {Through} AND device_id = $d AND ts BETWEEN $from AND $to)
            ORDER BY ts DESC, id DESC LIMIT $limit
            """, deviceId, from.ToUnixTimeMilliseconds(), to.ToUnixTimeMilliseconds(), limit, ct);
        rows.Reverse();
        return rows;
    }

    public async Task<IReadOnlyList<RollupRow>> RollupsAsync(string deviceId, Resolution resolution, DateTimeOffset from, DateTimeOffset to, int limit, CancellationToken ct)
    {
        var (table, step) = RollupBuckets.For(resolution);
        var fromMs = from.ToUnixTimeMilliseconds();
        var toMs = to.ToUnixTimeMilliseconds();
        var firstBucket = fromMs - Mod(fromMs, step);
        var lastBucket = toMs - Mod(toMs, step);
        await using var c = _db.Open();
        await using var cmd = c.CreateCommand();
        // One statement, one snapshot: the written rollups plus the readings committed since the last flush.
        cmd.CommandText = $"""
            SELECT * FROM (SELECT bucket, count, t_min, t_max, t_sum, h_min, h_max, h_sum FROM {table}
              WHERE device_id = $d AND bucket BETWEEN $from AND $to ORDER BY bucket DESC LIMIT $limit)
            UNION ALL
            SELECT ts - ts % {step}, count(*), min(temperature), max(temperature), sum(temperature), min(humidity), max(humidity), sum(humidity)
              FROM readings WHERE id > (SELECT COALESCE((SELECT value FROM readings_meta WHERE key = '{RollupThroughKey}'), 0))
              AND device_id = $d AND ts BETWEEN $from AND $toEnd GROUP BY 1
            """;
        cmd.Parameters.AddWithValue("$d", deviceId);
        cmd.Parameters.AddWithValue("$from", firstBucket);
        cmd.Parameters.AddWithValue("$to", lastBucket);
        cmd.Parameters.AddWithValue("$toEnd", lastBucket + step - 1);
        cmd.Parameters.AddWithValue("$limit", limit);
        var buckets = new Dictionary<long, Aggregate>();
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                var part = new Aggregate(r.GetInt64(1), r.GetDouble(2), r.GetDouble(3), r.GetDouble(4), r.GetDouble(5), r.GetDouble(6), r.GetDouble(7));
                var bucket = r.GetInt64(0);
                buckets[bucket] = buckets.TryGetValue(bucket, out var a) ? a.Merge(part) : part;
            }
        }
        return buckets.OrderByDescending(b => b.Key).Take(limit).Reverse()
            .Select(b => new RollupRow(DateTimeOffset.FromUnixTimeMilliseconds(b.Key), b.Value.Count,
                b.Value.TMin, b.Value.TMax, b.Value.TSum / b.Value.Count, b.Value.HMin, b.Value.HMax, b.Value.HSum / b.Value.Count))
            .ToList();
    }

    public async Task<RetentionResult> DeleteExpiredAsync(RetentionCutoffs cutoffs, CancellationToken ct)
    {
        await using var c = _db.Open();
        // Remember the newest ids first: ids are never handed out twice, even when every row expired.
        using (var tx = c.BeginTransaction())
        {
            Execute(c, tx, $"""
                INSERT INTO readings_meta (key, value) SELECT '{LastReadingKey}', max(id) FROM readings WHERE true HAVING max(id) IS NOT NULL
                  ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value);
                INSERT INTO readings_meta (key, value) SELECT '{LastEventKey}', max(id) FROM events WHERE true HAVING max(id) IS NOT NULL
                  ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value);
                """);
            tx.Commit();
        }
        long readings = 0, events = 0, minutes = 0, hours = 0;
        if (cutoffs.Raw is { } raw)
        {
            readings = DeleteExpiredReadings(c, raw.ToUnixTimeMilliseconds(), ct);
            events = DeleteInChunks(c, "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < $cut LIMIT 2000)", raw, ct);
        }
        if (cutoffs.Minute is { } minute)
        {
            minutes = DeleteInChunks(c, "DELETE FROM rollup_1m WHERE (bucket, device_id) IN (SELECT bucket, device_id FROM rollup_1m WHERE bucket < $cut LIMIT 2000)", minute, ct);
        }
        if (cutoffs.Hour is { } hour)
        {
            hours = DeleteInChunks(c, "DELETE FROM rollup_1h WHERE (bucket, device_id) IN (SELECT bucket, device_id FROM rollup_1h WHERE bucket < $cut LIMIT 2000)", hour, ct);
        }
        return new RetentionResult(readings, events, minutes, hours);
    }

    public void Dispose()
    {
        _sql?.Dispose();
        _connection?.Dispose();
    }

    private void Recover()
    {
        var c = _connection!;
        using var tx = c.BeginTransaction();
        var through = Meta(c, tx, IndexedThroughKey) ?? 0;
        // Readings committed after the last merge (e.g. before a crash) get their index entries and keys now, sorted.
        using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT OR IGNORE INTO reading_index (device_id, ts, id)
                  SELECT device_id, ts, id FROM readings WHERE id > $t ORDER BY device_id, ts, id;
                INSERT OR IGNORE INTO reading_keys (device_id, boot_id, seq, id)
                  SELECT device_id, boot_id, seq, id FROM readings WHERE id > $t AND boot_id IS NOT NULL AND seq IS NOT NULL
                  ORDER BY device_id, boot_id, seq, id;
                """;
            cmd.Parameters.AddWithValue("$t", through);
            cmd.ExecuteNonQuery();
        }
        // Readings committed after the last rollup flush are added to the rollups from the heap.
        var rollupThrough = Meta(c, tx, RollupThroughKey) ?? 0;
        using (var cmd = c.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = RollupTailUpsert("rollup_1m", MinuteMs) + ";\n" + RollupTailUpsert("rollup_1h", HourMs);
            cmd.Parameters.AddWithValue("$t", rollupThrough);
            cmd.ExecuteNonQuery();
        }
        var lastReading = Math.Max(Scalar(c, tx, "SELECT COALESCE(max(id), 0) FROM readings"), Meta(c, tx, LastReadingKey) ?? 0);
        var lastEvent = Math.Max(Scalar(c, tx, "SELECT COALESCE(max(id), 0) FROM events"), Meta(c, tx, LastEventKey) ?? 0);
        using (var set = c.CreateCommand())
        {
            set.Transaction = tx;
            set.CommandText = "INSERT INTO readings_meta (key, value) VALUES ($k, $v) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
            set.Parameters.AddWithValue("$k", IndexedThroughKey);
            set.Parameters.AddWithValue("$v", lastReading);
            set.ExecuteNonQuery();
            set.Parameters["$k"].Value = RollupThroughKey;
            set.ExecuteNonQuery();
        }
        tx.Commit();
        _pending.Reset();
        _minute.Clear();
        _hour.Clear();
        _rollupsFlushedAt = Stopwatch.GetTimestamp();
        Volatile.Write(ref _lastReadingId, lastReading);
        _lastEventId = lastEvent;
        _persistedThrough = lastReading;
        Volatile.Write(ref _pendingCount, 0);
        _needsRecovery = false;
    }

    private WriteOutcome StoreReading(WriterCommands sql, in ReadingWrite r, long now)
    {
        if (r.Seq is { } seq && r.BootId is { } boot && _pending.Find(r.DeviceId, boot, seq, _loadHighWater, _lookupKey) is { } first)
        {
            return new WriteOutcome(first, Duplicate: true);
        }
        var id = _lastReadingId + 1;
        var ts = r.Timestamp.ToUnixTimeMilliseconds();
        var insert = sql.InsertReading;
        insert.Bind(1, id);
        insert.Bind(2, Utf8(r.DeviceId));
        insert.Bind(3, r.BootId);
        insert.Bind(4, r.Seq);
        insert.Bind(5, ts);
        switch (r.DeviceTimestamp)
        {
            case long l: insert.Bind(6, l); break;
            case double d: insert.Bind(6, d); break;
            case string text: insert.Bind(6, text); break;
            default: insert.Bind(6, (string?)null); break;
        }
        insert.Bind(7, r.Temperature);
        insert.Bind(8, r.Humidity);
        insert.Bind(9, r.SensorId);
        insert.Bind(10, r.Location);
        insert.Bind(11, r.Extra);
        insert.Execute();
        Volatile.Write(ref _lastReadingId, id);
        _pending.Add(r.DeviceId, id, ts, r.BootId, r.Seq, now);
        Add(_minute, (ts - Mod(ts, MinuteMs), r.DeviceId), r);
        Add(_hour, (ts - Mod(ts, HourMs), r.DeviceId), r);
        return new WriteOutcome(id, Duplicate: false);
    }

    private long StoreEvent(WriterCommands sql, in EventWrite e)
    {
        var id = _lastEventId + 1;
        var p = sql.InsertEvent.Parameters;
        p[0].Value = id;
        p[1].Value = e.Timestamp.ToUnixTimeMilliseconds();
        p[2].Value = e.DataType;
        p[3].Value = e.ClientId;
        p[4].Value = (object?)e.Principal ?? DBNull.Value;
        p[5].Value = (object?)e.DeviceId ?? DBNull.Value;
        p[6].Value = (object?)e.BootId ?? DBNull.Value;
        p[7].Value = (object?)e.Seq ?? DBNull.Value;
        p[8].Value = e.DataJson;
        sql.InsertEvent.ExecuteNonQuery();
        _lastEventId = id;
        return id;
    }

    private void WriteRun(WriterCommands sql, PendingIndex.DeviceRun run)
    {
        var device = Utf8(run.DeviceId);
        var entries = run.Entries;
        entries.Sort(static (a, b) => a.Ts != b.Ts ? a.Ts.CompareTo(b.Ts) : a.Id.CompareTo(b.Id));
        foreach (var e in entries)
        {
            sql.InsertIndex.Bind(1, device);
            sql.InsertIndex.Bind(2, e.Ts);
            sql.InsertIndex.Bind(3, e.Id);
            sql.InsertIndex.Execute();
        }
        if (run.Keys.Count == 0) return;
        entries.Sort(static (a, b) => a.Boot != b.Boot ? a.Boot.CompareTo(b.Boot) : a.Seq != b.Seq ? a.Seq.CompareTo(b.Seq) : a.Id.CompareTo(b.Id));
        foreach (var e in entries)
        {
            if (!e.HasKey) continue;
            sql.InsertKey.Bind(1, device);
            sql.InsertKey.Bind(2, e.Boot);
            sql.InsertKey.Bind(3, e.Seq);
            sql.InsertKey.Bind(4, e.Id);
            sql.InsertKey.Execute();
        }
    }

    /// <summary>A device id as UTF-8, converted once per device rather than once per row.</summary>
    private byte[] Utf8(string deviceId)
    {
        if (!_utf8.TryGetValue(deviceId, out var bytes))
        {
            bytes = System.Text.Encoding.UTF8.GetBytes(deviceId);
            if (_utf8.Count < 100_000) _utf8[deviceId] = bytes;
        }
        return bytes;
    }

    private long LoadHighWater(string deviceId, long boot)
    {
        var cmd = _sql!.HighWater;
        cmd.Parameters[0].Value = deviceId;
        cmd.Parameters[1].Value = boot;
        return cmd.ExecuteScalar() is long seq ? seq : -1;
    }

    private long? LookupKey(string deviceId, long boot, long seq)
    {
        var cmd = _sql!.LookupKey;
        cmd.Parameters[0].Value = deviceId;
        cmd.Parameters[1].Value = boot;
        cmd.Parameters[2].Value = seq;
        return cmd.ExecuteScalar() is long id ? id : null;
    }

    private void Upsert(RawStatement cmd, Dictionary<(long Bucket, string Device), Aggregate> groups)
    {
        foreach (var ((bucket, device), a) in groups)
        {
            cmd.Bind(1, bucket);
            cmd.Bind(2, Utf8(device));
            cmd.Bind(3, a.Count);
            cmd.Bind(4, a.TMin);
            cmd.Bind(5, a.TMax);
            cmd.Bind(6, a.TSum);
            cmd.Bind(7, a.HMin);
            cmd.Bind(8, a.HMax);
            cmd.Bind(9, a.HSum);
            cmd.Execute();
        }
    }

    private void FlushRollups(WriterCommands sql, long now)
    {
        Upsert(sql.MinuteRollup, _minute);
        Upsert(sql.HourRollup, _hour);
        _minute.Clear();
        _hour.Clear();
        SetMeta(sql, RollupThroughKey, _lastReadingId);
        _rollupsFlushedAt = now;
    }

    private static string RollupTailUpsert(string table, long step) => $"""
        INSERT INTO {table} (bucket, device_id, count, t_min, t_max, t_sum, h_min, h_max, h_sum)
          SELECT ts - ts % {step}, device_id, count(*), min(temperature), max(temperature), sum(temperature), min(humidity), max(humidity), sum(humidity)
          FROM readings WHERE id > $t GROUP BY 1, 2
        ON CONFLICT (bucket, device_id) DO UPDATE SET count = count + excluded.count,
          t_min = min(t_min, excluded.t_min), t_max = max(t_max, excluded.t_max), t_sum = t_sum + excluded.t_sum,
          h_min = min(h_min, excluded.h_min), h_max = max(h_max, excluded.h_max), h_sum = h_sum + excluded.h_sum
        """;

    private static void Add(Dictionary<(long Bucket, string Device), Aggregate> groups, (long, string) key, in ReadingWrite r)
    {
        var t = r.Temperature;
        var h = r.Humidity;
        groups[key] = groups.TryGetValue(key, out var a)
            ? new Aggregate(a.Count + 1, Math.Min(a.TMin, t), Math.Max(a.TMax, t), a.TSum + t, Math.Min(a.HMin, h), Math.Max(a.HMax, h), a.HSum + h)
            : new Aggregate(1, t, t, t, h, h, h);
    }

    private static void SetMeta(WriterCommands sql, string key, long value)
    {
        sql.SetMeta.Bind(1, key);
        sql.SetMeta.Bind(2, value);
        sql.SetMeta.Execute();
    }

    private async Task<List<ReadingRow>> QueryRowsAsync(string sql, string deviceId, long from, long to, int limit, CancellationToken ct)
    {
        await using var c = _db.Open();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$d", deviceId);
        cmd.Parameters.AddWithValue("$from", from);
        cmd.Parameters.AddWithValue("$to", to);
        cmd.Parameters.AddWithValue("$limit", limit);
        var list = new List<ReadingRow>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new ReadingRow(
                r.GetInt64(0),
                r.GetString(1),
                r.IsDBNull(2) ? null : r.GetInt64(2),
                r.IsDBNull(3) ? null : r.GetInt64(3),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4)),
                r.IsDBNull(5) ? null : r.GetValue(5),
                r.GetDouble(6),
                r.GetDouble(7),
                _protector.Unprotect(r.IsDBNull(8) ? null : r.GetString(8)),
                _protector.Unprotect(r.IsDBNull(9) ? null : r.GetString(9))));
        }
        return list;
    }

    private static long DeleteExpiredReadings(SqliteConnection c, long cutoff, CancellationToken ct)
    {
        long deleted = 0;
        using var next = c.CreateCommand();
        next.CommandText = "SELECT device_id FROM reading_index WHERE device_id > $prev ORDER BY device_id LIMIT 1";
        var prev = next.Parameters.AddWithValue("$prev", "");
        using var expired = c.CreateCommand();
        expired.CommandText = "SELECT i.ts, i.id, r.boot_id, r.seq FROM reading_index i LEFT JOIN readings r ON r.id = i.id WHERE i.device_id = $d AND i.ts < $cut ORDER BY i.ts LIMIT 1000";
        var ed = expired.Parameters.AddWithValue("$d", "");
        expired.Parameters.AddWithValue("$cut", cutoff);
        using var delete = c.CreateCommand();
        delete.CommandText = """
            DELETE FROM readings WHERE id = $id;
            DELETE FROM reading_index WHERE device_id = $d AND ts = $ts AND id = $id;
            DELETE FROM reading_keys WHERE device_id = $d AND boot_id = $b AND seq = $s AND id = $id;
            """;
        var pid = delete.Parameters.Add("$id", SqliteType.Integer);
        var pd = delete.Parameters.Add("$d", SqliteType.Text);
        var pts = delete.Parameters.Add("$ts", SqliteType.Integer);
        var pb = delete.Parameters.Add("$b", SqliteType.Integer);
        var ps = delete.Parameters.Add("$s", SqliteType.Integer);
        var batch = new List<(long Ts, long Id, object Boot, object Seq)>();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (next.ExecuteScalar() is not string device) break;
            prev.Value = device;
            ed.Value = device;
            while (true)
            {
                // Short transactions: the writer waits at most one chunk.
                using var tx = c.BeginTransaction();
                expired.Transaction = tx;
                delete.Transaction = tx;
                batch.Clear();
                using (var r = expired.ExecuteReader())
                {
                    while (r.Read()) batch.Add((r.GetInt64(0), r.GetInt64(1), r.GetValue(2), r.GetValue(3)));
                }
                foreach (var (ts, id, boot, seq) in batch)
                {
                    pid.Value = id;
                    pd.Value = device;
                    pts.Value = ts;
                    pb.Value = boot;
                    ps.Value = seq;
                    delete.ExecuteNonQuery();
                }
                tx.Commit();
                expired.Transaction = null;
                delete.Transaction = null;
                deleted += batch.Count;
                if (batch.Count < 1000) break;
            }
        }
        return deleted;
    }

    private static long DeleteInChunks(SqliteConnection c, string sql, DateTimeOffset cutoff, CancellationToken ct)
    {
        long total = 0;
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$cut", cutoff.ToUnixTimeMilliseconds());
        int n;
        do
        {
            ct.ThrowIfCancellationRequested();
            n = cmd.ExecuteNonQuery();
            total += n;
        }
        while (n > 0);
        return total;
    }

    private static long? Meta(SqliteConnection c, SqliteTransaction tx, string key)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT value FROM readings_meta WHERE key = $k";
        cmd.Parameters.AddWithValue("$k", key);
        return cmd.ExecuteScalar() is long v ? v : null;
    }

    private static long Scalar(SqliteConnection c, SqliteTransaction tx, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private static void Execute(SqliteConnection c, SqliteTransaction? tx, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }


    private readonly record struct Aggregate(long Count, double TMin, double TMax, double TSum, double HMin, double HMax, double HSum)
    {
        public Aggregate Merge(Aggregate o) =>
            new(Count + o.Count, Math.Min(TMin, o.TMin), Math.Max(TMax, o.TMax), TSum + o.TSum, Math.Min(HMin, o.HMin), Math.Max(HMax, o.HMax), HSum + o.HSum);
    }

    /// <summary>The writer connection's prepared statements, reused for every commit.</summary>
    private sealed class WriterCommands : IDisposable
    {
        private readonly List<SqliteCommand> _commands = [];
        private readonly List<RawStatement> _statements = [];

        public WriterCommands(SqliteConnection c)
        {
            InsertReading = Raw(c, "INSERT INTO readings (id, device_id, boot_id, seq, ts, device_ts, temperature, humidity, sensor_id, location, extra) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
            InsertIndex = Raw(c, "INSERT OR IGNORE INTO reading_index (device_id, ts, id) VALUES (?1, ?2, ?3)");
            InsertKey = Raw(c, "INSERT OR IGNORE INTO reading_keys (device_id, boot_id, seq, id) VALUES (?1, ?2, ?3, ?4)");
            SetMeta = Raw(c, "INSERT INTO readings_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
            MinuteRollup = RawRollup(c, "rollup_1m");
            HourRollup = RawRollup(c, "rollup_1h");
            InsertEvent = Prepare(c, "INSERT INTO events (id, ts, data_type, client_id, principal, device_id, boot_id, seq, data) VALUES ($id, $ts, $type, $c, $p, $d, $b, $s, $data)",
                "$id", "$ts", "$type", "$c", "$p", "$d", "$b", "$s", "$data");
            LookupKey = Prepare(c, "SELECT id FROM reading_keys WHERE device_id = $d AND boot_id = $b AND seq = $s", "$d", "$b", "$s");
            HighWater = Prepare(c, "SELECT seq FROM reading_keys WHERE device_id = $d AND boot_id = $b ORDER BY seq DESC LIMIT 1", "$d", "$b");
        }

        public RawStatement InsertReading { get; }
        public RawStatement InsertIndex { get; }
        public RawStatement InsertKey { get; }
        public RawStatement SetMeta { get; }
        public RawStatement MinuteRollup { get; }
        public RawStatement HourRollup { get; }
        public SqliteCommand InsertEvent { get; }
        public SqliteCommand LookupKey { get; }
        public SqliteCommand HighWater { get; }

        /// <summary>ADO.NET commands must name the transaction; the raw statements run in it anyway (same connection).</summary>
        public void Enlist(SqliteTransaction tx)
        {
            foreach (var cmd in _commands) cmd.Transaction = tx;
        }

        public void Dispose()
        {
            foreach (var cmd in _commands) cmd.Dispose();
            foreach (var stmt in _statements) stmt.Dispose();
        }

        private RawStatement RawRollup(SqliteConnection c, string table) => Raw(c, $"""
            INSERT INTO {table} (bucket, device_id, count, t_min, t_max, t_sum, h_min, h_max, h_sum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            ON CONFLICT (bucket, device_id) DO UPDATE SET count = count + excluded.count,
              t_min = min(t_min, excluded.t_min), t_max = max(t_max, excluded.t_max), t_sum = t_sum + excluded.t_sum,
              h_min = min(h_min, excluded.h_min), h_max = max(h_max, excluded.h_max), h_sum = h_sum + excluded.h_sum
            """);

        private RawStatement Raw(SqliteConnection c, string sql)
        {
            var stmt = new RawStatement(c, sql);
            _statements.Add(stmt);
            return stmt;
        }

        private SqliteCommand Prepare(SqliteConnection c, string sql, params string[] parameters)
        {
            var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            foreach (var name in parameters) cmd.Parameters.Add(new SqliteParameter { ParameterName = name });
            _commands.Add(cmd);
            return cmd;
        }
    }

    /// <summary>
    /// A statement prepared once and bound through SQLitePCL directly: the per-reading inserts skip ADO.NET's boxing and
    /// per-execution bookkeeping (about half of the writer's time per reading, see docs/performance.md).
    /// </summary>
    private sealed class RawStatement : IDisposable
    {
        private readonly sqlite3 _db;
        private readonly sqlite3_stmt _stmt;

        public RawStatement(SqliteConnection connection, string sql)
        {
            _db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
            var rc = raw.sqlite3_prepare_v2(_db, sql, out _stmt);
            if (rc != raw.SQLITE_OK) throw new SqliteException(raw.sqlite3_errmsg(_db).utf8_to_string(), rc);
        }

        public void Bind(int index, long value) => raw.sqlite3_bind_int64(_stmt, index, value);
        public void Bind(int index, long? value) => _ = value is { } v ? raw.sqlite3_bind_int64(_stmt, index, v) : raw.sqlite3_bind_null(_stmt, index);
        public void Bind(int index, double value) => raw.sqlite3_bind_double(_stmt, index, value);
        public void Bind(int index, byte[] utf8) => raw.sqlite3_bind_text(_stmt, index, utf8.AsSpan());
        public void Bind(int index, string? value) => _ = value is null ? raw.sqlite3_bind_null(_stmt, index) : raw.sqlite3_bind_text(_stmt, index, value);

        public void Execute()
        {
            var rc = raw.sqlite3_step(_stmt);
            raw.sqlite3_reset(_stmt);
            if (rc != raw.SQLITE_DONE) throw new SqliteException(raw.sqlite3_errmsg(_db).utf8_to_string(), rc);
        }

        public void Dispose() => _stmt.Dispose();
    }
}
