using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using NpgsqlTypes;
using static IotWs.Gateway.Storage.RollupBuckets;

namespace IotWs.Gateway.Storage.Postgres;

/// <summary>How a commit's readings reach PostgreSQL (docs/performance.md has the measurement that chose the default).</summary>
internal enum PostgresIngest
{
    /// <summary>Binary COPY into a temporary staging table, then one INSERT … SELECT … ON CONFLICT DO NOTHING.</summary>
    CopyThenMerge,
    /// <summary>One multi-row INSERT … SELECT FROM unnest(arrays) … ON CONFLICT DO NOTHING.</summary>
    ArrayInsert,
}

/// <summary>
/// Readings and events in PostgreSQL. The unique key (device, boot, seq) finds duplicates, also against rows other
/// gateways committed; ids come from the identity column, so they are unique across gateways. Each commit is one
/// transaction that inserts the readings, updates the minute and hour rollups of what it inserted, and stores the
/// events, so rollups always equal the aggregates of the raw rows.
/// </summary>
public sealed class PostgresReadingStore(PostgresDatabase db, IStoredFieldReader protector) : IReadingStore, IDisposable
{
    private const string RowColumns = "id, device_id, seq, boot_id, ts, device_ts, temperature, humidity, sensor_id, location";
    private const string StagingColumns = "ord, device_id, boot_id, seq, ts, device_ts, temperature, humidity, sensor_id, location, extra";

    private NpgsqlConnection? _writer;
    private bool _staging;
    private long _lastReadingId;
    private readonly List<(long Id, string Device, long? Boot, long? Seq)> _inserted = [];
    private readonly Dictionary<(string, long, long), long> _firstIds = [];

    internal PostgresIngest Ingest { get; set; } = PostgresIngest.CopyThenMerge;

    public long LastReadingId => Volatile.Read(ref _lastReadingId);

    public void Open()
    {
        var c = Writer();
        // The identity sequence, not max(id): ids are never handed out twice, even after retention deleted every row.
        using var cmd = Pg.Command(c, "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('readings', 'id')), 0)");
        Volatile.Write(ref _lastReadingId, Math.Max(_lastReadingId, (long)cmd.ExecuteScalar()!));
    }

    public void Commit(WriteBatch batch)
    {
        batch.ReadingOutcomes.Clear();
        batch.EventIds.Clear();
        var c = Writer();
        try
        {
            using var tx = c.BeginTransaction();
            if (batch.Readings.Count > 0) InsertReadings(c, tx, batch);
            if (batch.Events.Count > 0) InsertEvents(c, tx, batch);
            tx.Commit();
        }
        catch
        {
            batch.ReadingOutcomes.Clear();
            batch.EventIds.Clear();
            // The connection may be broken (server restarted, network): the next commit opens a new one.
            _writer?.Dispose();
            _writer = null;
            _staging = false;
            throw;
        }
        foreach (var o in batch.ReadingOutcomes)
        {
            if (!o.Duplicate && o.InsertId > _lastReadingId) Volatile.Write(ref _lastReadingId, o.InsertId);
        }
    }

    public void Flush()
    {
        // Nothing is held back: every commit writes its index entries and rollups.
    }

    public async Task<ReadingRow?> LatestAsync(string deviceId, CancellationToken ct)
    {
        var rows = await QueryRowsAsync($"SELECT {RowColumns} FROM readings WHERE device_id = @d ORDER BY ts DESC, id DESC LIMIT 1",
            cmd => cmd.Text("d", deviceId), ct);
        return rows.Count == 0 ? null : rows[0];
    }

    public async Task<long?> HighestBootIdAsync(string deviceId, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = Pg.Command(c, "SELECT max(boot_id) FROM readings WHERE device_id = @d").Text("d", deviceId);
        return await cmd.ExecuteScalarAsync(ct) is long boot ? boot : null;
    }

    public async Task<IReadOnlyList<ReadingRow>> ReadingsAsync(string deviceId, DateTimeOffset from, DateTimeOffset to, int limit, CancellationToken ct)
    {
        var rows = await QueryRowsAsync($"""
            SELECT {RowColumns} FROM readings WHERE device_id = @d AND ts BETWEEN @from AND @to ORDER BY ts DESC, id DESC LIMIT @limit
            """, cmd => cmd.Text("d", deviceId).Time("from", from).Time("to", to).Int("limit", limit), ct);
        rows.Reverse();
        return rows;
    }

    public async Task<IReadOnlyList<RollupRow>> RollupsAsync(string deviceId, Resolution resolution, DateTimeOffset from, DateTimeOffset to, int limit, CancellationToken ct)
    {
        var (table, step) = RollupBuckets.For(resolution);
        var fromMs = from.ToUnixTimeMilliseconds();
        var toMs = to.ToUnixTimeMilliseconds();
        await using var c = await db.OpenAsync(ct);
        await using var cmd = Pg.Command(c, $"""
            SELECT bucket, count, t_min, t_max, t_sum, h_min, h_max, h_sum FROM {table}
            WHERE device_id = @d AND bucket BETWEEN @from AND @to ORDER BY bucket DESC LIMIT @limit
            """).Text("d", deviceId).Long("from", fromMs - Mod(fromMs, step)).Long("to", toMs - Mod(toMs, step)).Int("limit", limit);
        var list = new List<RollupRow>();
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            while (await r.ReadAsync(ct))
            {
                var count = r.GetInt64(1);
                list.Add(new RollupRow(Pg.FromMs(r.GetInt64(0)), count, r.GetDouble(2), r.GetDouble(3), r.GetDouble(4) / count,
                    r.GetDouble(5), r.GetDouble(6), r.GetDouble(7) / count));
            }
        }
        list.Reverse();
        return list;
    }

    public async Task<RetentionResult> DeleteExpiredAsync(RetentionCutoffs cutoffs, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        long readings = 0, events = 0, minutes = 0, hours = 0;
        if (cutoffs.Raw is { } raw)
        {
            readings = await DeleteInChunksAsync(c, "DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE ts < @cut LIMIT 5000)", raw, ct);
            events = await DeleteInChunksAsync(c, "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < @cut LIMIT 5000)", raw, ct);
        }
        if (cutoffs.Minute is { } minute)
        {
            minutes = await DeleteInChunksAsync(c, "DELETE FROM rollup_1m WHERE (device_id, bucket) IN (SELECT device_id, bucket FROM rollup_1m WHERE bucket < @cut LIMIT 5000)", minute, ct);
        }
        if (cutoffs.Hour is { } hour)
        {
            hours = await DeleteInChunksAsync(c, "DELETE FROM rollup_1h WHERE (device_id, bucket) IN (SELECT device_id, bucket FROM rollup_1h WHERE bucket < @cut LIMIT 5000)", hour, ct);
        }
        return new RetentionResult(readings, events, minutes, hours);
    }

    public void Dispose() => _writer?.Dispose();

    private NpgsqlConnection Writer() => _writer ??= db.Open();

    /// <summary>
    /// Inserts the batch's readings (in batch order, so the first of two equal keys wins), adds what was inserted to
    /// the rollups in the same statement, and answers each reading: the id it got, or the id of the row that holds
    /// its key (stored before, by any gateway, or earlier in this batch).
    /// </summary>
    private void InsertReadings(NpgsqlConnection c, NpgsqlTransaction tx, WriteBatch batch)
    {
        var source = Ingest == PostgresIngest.CopyThenMerge ? Stage(c, tx, batch.Readings, ref _staging) : ArraySource;
        using var cmd = Pg.Command(c, $"""
            WITH ins AS (
              INSERT INTO readings (device_id, boot_id, seq, ts, device_ts, temperature, humidity, sensor_id, location, extra)
              SELECT device_id, boot_id, seq, ts, device_ts, temperature, humidity, sensor_id, location, extra FROM {source} ORDER BY ord
              ON CONFLICT DO NOTHING
              RETURNING id, device_id, boot_id, seq, ts, temperature, humidity),
            m AS ({RollupUpsert("rollup_1m", MinuteMs)}),
            h AS ({RollupUpsert("rollup_1h", HourMs)})
            SELECT id, device_id, boot_id, seq FROM ins ORDER BY id
            """, tx);
        if (Ingest == PostgresIngest.ArrayInsert) BindArrays(cmd, batch.Readings);
        _inserted.Clear();
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read()) _inserted.Add((r.GetInt64(0), r.GetString(1), Pg.OptionalLong(r, 2), Pg.OptionalLong(r, 3)));
        }

        // Inserted rows, in id order, are the batch's non-duplicates in batch order (identity values follow the ORDER BY).
        _firstIds.Clear();
        var keyed = new Dictionary<(string, long, long), long>();
        var unkeyed = new Queue<long>();
        foreach (var (id, device, boot, seq) in _inserted)
        {
            if (boot is { } b && seq is { } s) keyed[(device, b, s)] = id;
            else unkeyed.Enqueue(id);
        }
        List<int>? missing = null;
        for (var i = 0; i < batch.Readings.Count; i++)
        {
            var reading = batch.Readings[i];
            if (reading.BootId is not { } boot || reading.Seq is not { } seq)
            {
                batch.ReadingOutcomes.Add(new WriteOutcome(unkeyed.Dequeue(), Duplicate: false));
                continue;
            }
            var key = (reading.DeviceId, boot, seq);
            if (_firstIds.TryGetValue(key, out var first))
            {
                batch.ReadingOutcomes.Add(new WriteOutcome(first, Duplicate: true));
            }
            else if (keyed.Remove(key, out var id))
            {
                _firstIds[key] = id;
                batch.ReadingOutcomes.Add(new WriteOutcome(id, Duplicate: false));
            }
            else
            {
                // Stored before this commit: looked up below, all at once.
                (missing ??= []).Add(i);
                batch.ReadingOutcomes.Add(default);
            }
        }
        if (missing is not null) AnswerDuplicates(c, tx, batch, missing);
    }

    private void AnswerDuplicates(NpgsqlConnection c, NpgsqlTransaction tx, WriteBatch batch, List<int> missing)
    {
        using var cmd = Pg.Command(c, """
            SELECT r.device_id, r.boot_id, r.seq, r.id FROM readings r
            JOIN unnest(@d, @b, @s) AS k(device_id, boot_id, seq) ON r.device_id = k.device_id AND r.boot_id = k.boot_id AND r.seq = k.seq
            """, tx);
        cmd.Parameters.AddWithValue("d", missing.Select(i => batch.Readings[i].DeviceId).ToArray());
        cmd.Parameters.AddWithValue("b", missing.Select(i => batch.Readings[i].BootId!.Value).ToArray());
        cmd.Parameters.AddWithValue("s", missing.Select(i => batch.Readings[i].Seq!.Value).ToArray());
        var found = new Dictionary<(string, long, long), long>();
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read()) found[(r.GetString(0), r.GetInt64(1), r.GetInt64(2))] = r.GetInt64(3);
        }
        foreach (var i in missing)
        {
            var reading = batch.Readings[i];
            var key = (reading.DeviceId, reading.BootId!.Value, reading.Seq!.Value);
            // Not found would mean the holder was deleted between the insert and this read (retention): then nothing holds the key.
            if (!found.TryGetValue(key, out var id)) throw new InvalidOperationException($"The reading {key} conflicted but no stored row holds its key.");
            batch.ReadingOutcomes[i] = new WriteOutcome(id, Duplicate: true);
        }
    }

    private const string ArraySource = """
        unnest(@ord, @device, @boot, @seq, @ts, @dts, @t, @h, @sensor, @loc, @extra)
          AS u(ord, device_id, boot_id, seq, ts, device_ts, temperature, humidity, sensor_id, location, extra)
        """;

    private static void BindArrays(NpgsqlCommand cmd, List<ReadingWrite> rows)
    {
        var n = rows.Count;
        var ord = new int[n];
        var device = new string[n];
        var boot = new long?[n];
        var seq = new long?[n];
        var ts = new long[n];
        var dts = new string?[n];
        var t = new double[n];
        var h = new double[n];
        var sensor = new string?[n];
        var loc = new string?[n];
        var extra = new string?[n];
        for (var i = 0; i < n; i++)
        {
            var r = rows[i];
            ord[i] = i;
            device[i] = r.DeviceId;
            boot[i] = r.BootId;
            seq[i] = r.Seq;
            ts[i] = r.Timestamp.ToUnixTimeMilliseconds();
            dts[i] = DeviceTimestampJson(r.DeviceTimestamp);
            t[i] = r.Temperature;
            h[i] = r.Humidity;
            sensor[i] = r.SensorId;
            loc[i] = r.Location;
            extra[i] = r.Extra;
        }
        cmd.Parameters.AddWithValue("ord", ord);
        cmd.Parameters.AddWithValue("device", device);
        cmd.Parameters.AddWithValue("boot", boot);
        cmd.Parameters.AddWithValue("seq", seq);
        cmd.Parameters.AddWithValue("ts", ts);
        cmd.Parameters.Add(new NpgsqlParameter("dts", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = dts });
        cmd.Parameters.AddWithValue("t", t);
        cmd.Parameters.AddWithValue("h", h);
        cmd.Parameters.Add(new NpgsqlParameter("sensor", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = sensor });
        cmd.Parameters.Add(new NpgsqlParameter("loc", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = loc });
        cmd.Parameters.Add(new NpgsqlParameter("extra", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = extra });
    }

    /// <summary>Copies the rows into the session's staging table (emptied by every commit) and names it as the source.</summary>
    private static string Stage(NpgsqlConnection c, NpgsqlTransaction tx, List<ReadingWrite> rows, ref bool created)
    {
        if (!created)
        {
            using var create = Pg.Command(c, """
            CREATE TEMP TABLE IF NOT EXISTS readings_staging (
              ord integer NOT NULL, device_id text NOT NULL, boot_id bigint, seq bigint, ts bigint NOT NULL, device_ts jsonb,
              temperature double precision NOT NULL, humidity double precision NOT NULL, sensor_id text, location text, extra text)
              ON COMMIT DELETE ROWS
            """, tx);
            create.ExecuteNonQuery();
            created = true;
        }
        using var copy = c.BeginBinaryImport($"COPY readings_staging ({StagingColumns}) FROM STDIN (FORMAT BINARY)");
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            copy.StartRow();
            copy.Write(i, NpgsqlDbType.Integer);
            copy.Write(r.DeviceId, NpgsqlDbType.Text);
            if (r.BootId is { } boot) copy.Write(boot, NpgsqlDbType.Bigint); else copy.WriteNull();
            if (r.Seq is { } seq) copy.Write(seq, NpgsqlDbType.Bigint); else copy.WriteNull();
            copy.Write(r.Timestamp.ToUnixTimeMilliseconds(), NpgsqlDbType.Bigint);
            if (DeviceTimestampJson(r.DeviceTimestamp) is { } dts) copy.Write(dts, NpgsqlDbType.Jsonb); else copy.WriteNull();
            copy.Write(r.Temperature, NpgsqlDbType.Double);
            copy.Write(r.Humidity, NpgsqlDbType.Double);
            if (r.SensorId is { } sensor) copy.Write(sensor, NpgsqlDbType.Text); else copy.WriteNull();
            if (r.Location is { } location) copy.Write(location, NpgsqlDbType.Text); else copy.WriteNull();
            if (r.Extra is { } extra) copy.Write(extra, NpgsqlDbType.Text); else copy.WriteNull();
        }
        copy.Complete();
        return "readings_staging";
    }

    private static string RollupUpsert(string table, long step) => $"""
        INSERT INTO {table} AS t (device_id, bucket, count, t_min, t_max, t_sum, h_min, h_max, h_sum)
          SELECT device_id, ts - ((ts % {step}) + {step}) % {step}, count(*), min(temperature), max(temperature), sum(temperature),
                 min(humidity), max(humidity), sum(humidity)
          FROM ins GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (device_id, bucket) DO UPDATE SET count = t.count + excluded.count,
          t_min = least(t.t_min, excluded.t_min), t_max = greatest(t.t_max, excluded.t_max), t_sum = t.t_sum + excluded.t_sum,
          h_min = least(t.h_min, excluded.h_min), h_max = greatest(t.h_max, excluded.h_max), h_sum = t.h_sum + excluded.h_sum
        """;

    private static void InsertEvents(NpgsqlConnection c, NpgsqlTransaction tx, WriteBatch batch)
    {
        var events = batch.Events;
        using var cmd = Pg.Command(c, """
            INSERT INTO events (ts, data_type, client_id, principal, device_id, boot_id, seq, data)
            SELECT ts, data_type, client_id, principal, device_id, boot_id, seq, data
            FROM unnest(@ord, @ts, @type, @client, @principal, @device, @boot, @seq, @data)
              AS u(ord, ts, data_type, client_id, principal, device_id, boot_id, seq, data)
            ORDER BY ord
            RETURNING id
            """, tx);
        cmd.Parameters.AddWithValue("ord", Enumerable.Range(0, events.Count).ToArray());
        cmd.Parameters.AddWithValue("ts", events.Select(e => e.Timestamp.ToUnixTimeMilliseconds()).ToArray());
        cmd.Parameters.AddWithValue("type", events.Select(e => e.DataType).ToArray());
        cmd.Parameters.AddWithValue("client", events.Select(e => e.ClientId).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("principal", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = events.Select(e => e.Principal).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter("device", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = events.Select(e => e.DeviceId).ToArray() });
        cmd.Parameters.AddWithValue("boot", events.Select(e => e.BootId).ToArray());
        cmd.Parameters.AddWithValue("seq", events.Select(e => e.Seq).ToArray());
        cmd.Parameters.AddWithValue("data", events.Select(e => e.DataJson).ToArray());
        var ids = new List<long>(events.Count);
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read()) ids.Add(r.GetInt64(0));
        }
        ids.Sort();
        batch.EventIds.AddRange(ids);
    }

    /// <summary>The device's own timestamp (a number or a string) as JSON, so it reads back with its type.</summary>
    private static string? DeviceTimestampJson(object? value) => value switch
    {
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture) is var text && (text.Contains('.') || text.Contains('E')) ? text : text + ".0",
        string s => JsonValue.Create(s).ToJsonString(),
        _ => null,
    };

    private static object? DeviceTimestamp(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var e = doc.RootElement;
        return e.ValueKind switch
        {
            JsonValueKind.String => e.GetString(),
            JsonValueKind.Number when !json.Contains('.') && !json.Contains('e') && !json.Contains('E') && e.TryGetInt64(out var l) => l,
            JsonValueKind.Number => e.GetDouble(),
            _ => null,
        };
    }

    private async Task<List<ReadingRow>> QueryRowsAsync(string sql, Action<NpgsqlCommand> bind, CancellationToken ct)
    {
        await using var c = await db.OpenAsync(ct);
        await using var cmd = Pg.Command(c, sql);
        bind(cmd);
        var list = new List<ReadingRow>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new ReadingRow(
                r.GetInt64(0),
                r.GetString(1),
                Pg.OptionalLong(r, 2),
                Pg.OptionalLong(r, 3),
                Pg.FromMs(r.GetInt64(4)),
                r.IsDBNull(5) ? null : DeviceTimestamp(r.GetString(5)),
                r.GetDouble(6),
                r.GetDouble(7),
                protector.Unprotect(Pg.OptionalText(r, 8)),
                protector.Unprotect(Pg.OptionalText(r, 9))));
        }
        return list;
    }

    private static async Task<long> DeleteInChunksAsync(NpgsqlConnection c, string sql, DateTimeOffset cutoff, CancellationToken ct)
    {
        long total = 0;
        await using var cmd = Pg.Command(c, sql).Time("cut", cutoff);
        int n;
        do
        {
            n = await cmd.ExecuteNonQueryAsync(ct);
            total += n;
        }
        while (n > 0);
        return total;
    }

}
