using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace IotWs.LoadTest;

/// <summary>
/// Storage micro-benchmark: group commits of readings interleaved from many devices, with each
/// candidate way of detecting duplicates, to choose one by measurement (docs/performance.md).
/// </summary>
internal static class StorageBench
{
    private sealed record Variant(string Name, string Description, string[] Ddl, bool KeysTable, bool BootsTable, bool Deferred = false);

    private const string ReadingsTable = """
        CREATE TABLE readings (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, boot_id INTEGER, seq INTEGER, ts INTEGER NOT NULL,
          device_ts ANY, temperature REAL NOT NULL, humidity REAL NOT NULL, sensor_id TEXT, location TEXT, extra TEXT) STRICT
        """;
    private const string Rollups = """
        CREATE TABLE rollup_1m (bucket INTEGER NOT NULL, device_id TEXT NOT NULL, count INTEGER NOT NULL,
          t_min REAL NOT NULL, t_max REAL NOT NULL, t_sum REAL NOT NULL, h_min REAL NOT NULL, h_max REAL NOT NULL, h_sum REAL NOT NULL,
          PRIMARY KEY (bucket, device_id)) WITHOUT ROWID;
        CREATE TABLE rollup_1h (bucket INTEGER NOT NULL, device_id TEXT NOT NULL, count INTEGER NOT NULL,
          t_min REAL NOT NULL, t_max REAL NOT NULL, t_sum REAL NOT NULL, h_min REAL NOT NULL, h_max REAL NOT NULL, h_sum REAL NOT NULL,
          PRIMARY KEY (bucket, device_id)) WITHOUT ROWID;
        """;
    private const string Boots = "CREATE TABLE reading_boots (device_id TEXT NOT NULL, boot_id INTEGER NOT NULL, max_seq INTEGER NOT NULL, PRIMARY KEY (device_id, boot_id)) WITHOUT ROWID";
    private const string TimeIndex = "CREATE INDEX readings_device_ts ON readings (device_id, ts)";
    private const string UniqueIndex = "CREATE UNIQUE INDEX readings_key ON readings (device_id, boot_id, seq)";
    private const string DeferredIndex = "CREATE TABLE reading_index (device_id TEXT NOT NULL, ts INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (device_id, ts, id)) WITHOUT ROWID";
    private const string Meta = "CREATE TABLE readings_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID";
    private const string KeysTable = "CREATE TABLE reading_keys (device_id TEXT NOT NULL, boot_id INTEGER NOT NULL, seq INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (device_id, boot_id, seq)) WITHOUT ROWID";

    private static readonly Variant[] Variants =
    [
        new("none", "rowid table + rollups, no per-device index (floor)", [ReadingsTable, Rollups], false, false),
        new("memory", "in-memory dedup: (device,ts) index + per-boot high-water table", [ReadingsTable, Rollups, TimeIndex, Boots], false, true),
        new("unique", "(device,ts) index + UNIQUE (device,boot,seq) index", [ReadingsTable, Rollups, TimeIndex, UniqueIndex], false, false),
        new("keys", "(device,ts) index + WITHOUT ROWID keys table (device,boot,seq)->id", [ReadingsTable, Rollups, TimeIndex, KeysTable], true, false),
        new("deferred", "in-memory dedup + (device,ts) index and (device,boot,seq) keys merged per device in sorted runs", [ReadingsTable, Rollups, DeferredIndex, KeysTable, Meta], false, false, true),
        new("unique-only", "UNIQUE (device,boot,seq) index only (as in environment.md)", [ReadingsTable, Rollups, UniqueIndex], false, false),
    ];

    public static int Run(BenchOptions o)
    {
        var devices = o.Int("devices", 1000);
        var rows = o.Int("rows", 200_000);
        var prefill = o.Int("prefill", 200_000);
        var commitSizes = o.Ints("commit", [1000]);
        var sync = o.String("sync", "normal").ToUpperInvariant();
        var cacheMb = o.Int("cache-mb", 2);
        var autocheckpoint = o.Int("autocheckpoint", 1000);
        Writer.MergeRun = o.Int("merge-run", 16);
        var names = o.String("variants", string.Join(',', Variants.Select(v => v.Name))).Split(',');
        Console.WriteLine($"storage: {devices} devices interleaved, {prefill:N0} rows prefilled, {rows:N0} rows timed, synchronous={sync}, cache={cacheMb} MB, wal_autocheckpoint={autocheckpoint}");
        Console.WriteLine($"{"variant",-12} {"commit",7} {"rows/s",10} {"KB written/row",15} {"commit p50 ms",14} {"p99 ms",8}  description");
        foreach (var commit in commitSizes)
        {
            foreach (var variant in Variants.Where(v => names.Contains(v.Name)))
            {
                var r = RunOne(variant, devices, prefill, rows, commit, sync, cacheMb, autocheckpoint);
                Console.WriteLine($"{variant.Name,-12} {commit,7} {r.RowsPerSecond,10:N0} {r.BytesPerRow / 1024.0,15:N2} {r.P50,14:N1} {r.P99,8:N1}  {variant.Description}");
            }
        }
        return 0;
    }

    private sealed record Result(double RowsPerSecond, double BytesPerRow, double P50, double P99);

    private static Result RunOne(Variant variant, int devices, int prefill, int rows, int commit, string sync, int cacheMb, int autocheckpoint)
    {
        var dir = Path.Combine(Path.GetTempPath(), "iotws-storage-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            using var c = new SqliteConnection($"Data Source={Path.Combine(dir, "bench.db")};Pooling=false");
            c.Open();
            Exec(c, $"PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA cache_size=-{cacheMb * 1024}; PRAGMA wal_autocheckpoint={autocheckpoint};");
            foreach (var ddl in variant.Ddl) Exec(c, ddl);
            var writer = new Writer(c, variant, devices);
            writer.Write(prefill, commit, null);
            var durations = new List<double>();
            var before = WrittenBytes();
            var sw = Stopwatch.StartNew();
            writer.Write(rows, commit, durations);
            sw.Stop();
            var written = WrittenBytes() - before;
            durations.Sort();
            return new Result(rows / sw.Elapsed.TotalSeconds, (double)written / rows, durations[durations.Count / 2], durations[(int)(durations.Count * 0.99)]);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, true);
        }
    }

    /// <summary>Bytes this process handed to write(2) so far (WAL frames and checkpoints).</summary>
    private static long WrittenBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/io"))
        {
            if (line.StartsWith("wchar:", StringComparison.Ordinal)) return long.Parse(line[6..].Trim(), CultureInfo.InvariantCulture);
        }
        return 0;
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Writes readings the way the gateway's writer does: one transaction per batch, prepared statements, rollups upserted per bucket.</summary>
    private sealed class Writer
    {
        private readonly SqliteConnection _c;
        private readonly Variant _v;
        private readonly int _devices;
        private readonly string[] _ids;
        private readonly long _start = DateTimeOffset.Parse("2026-11-01T00:00:00Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        private long _next;
        private readonly List<(long Seq, long Ts, long Id)>?[] _pending = new List<(long, long, long)>?[100_000];
        private readonly PriorityQueue<int, long> _queue = new();
        public static int MergeRun = 16;
        private long _id;

        public Writer(SqliteConnection c, Variant v, int devices)
        {
            _c = c;
            _v = v;
            _devices = devices;
            _ids = Enumerable.Range(0, devices).Select(i => $"esp32-{i:D5}").ToArray();
        }

        public void Write(int count, int commit, List<double>? durations)
        {
            using var insert = _c.CreateCommand();
            insert.CommandText = "INSERT INTO readings (id, device_id, boot_id, seq, ts, device_ts, temperature, humidity, sensor_id, location, extra) VALUES ($id, $d, $b, $s, $ts, NULL, $t, $h, $sid, $loc, $x)";
            var pId = insert.Parameters.Add("$id", SqliteType.Integer);
            var pD = insert.Parameters.Add("$d", SqliteType.Text);
            var pB = insert.Parameters.Add("$b", SqliteType.Integer);
            var pS = insert.Parameters.Add("$s", SqliteType.Integer);
            var pTs = insert.Parameters.Add("$ts", SqliteType.Integer);
            var pT = insert.Parameters.Add("$t", SqliteType.Real);
            var pH = insert.Parameters.Add("$h", SqliteType.Real);
            var pSid = insert.Parameters.Add("$sid", SqliteType.Text);
            var pLoc = insert.Parameters.Add("$loc", SqliteType.Text);
            var pX = insert.Parameters.Add("$x", SqliteType.Text);
            using var keys = _c.CreateCommand();
            keys.CommandText = "INSERT OR IGNORE INTO reading_keys (device_id, boot_id, seq, id) VALUES ($d, $b, $s, $id)";
            var kD = keys.Parameters.Add("$d", SqliteType.Text);
            var kB = keys.Parameters.Add("$b", SqliteType.Integer);
            var kS = keys.Parameters.Add("$s", SqliteType.Integer);
            var kId = keys.Parameters.Add("$id", SqliteType.Integer);
            using var boots = _c.CreateCommand();
            boots.CommandText = "INSERT INTO reading_boots (device_id, boot_id, max_seq) VALUES ($d, $b, $s) ON CONFLICT DO UPDATE SET max_seq = max(max_seq, excluded.max_seq)";
            var bD = boots.Parameters.Add("$d", SqliteType.Text);
            var bB = boots.Parameters.Add("$b", SqliteType.Integer);
            var bS = boots.Parameters.Add("$s", SqliteType.Integer);
            using var idx = _c.CreateCommand();
            idx.CommandText = "INSERT OR IGNORE INTO reading_index (device_id, ts, id) VALUES ($d, $ts, $id)";
            var iD = idx.Parameters.Add("$d", SqliteType.Text);
            var iTs = idx.Parameters.Add("$ts", SqliteType.Integer);
            var iId = idx.Parameters.Add("$id", SqliteType.Integer);
            using var meta = _c.CreateCommand();
            meta.CommandText = "INSERT INTO readings_meta (key, value) VALUES ('indexed_through', $v) ON CONFLICT DO UPDATE SET value = excluded.value";
            var mV = meta.Parameters.Add("$v", SqliteType.Integer);
            using var r1m = Rollup("rollup_1m");
            using var r1h = Rollup("rollup_1h");

            var m = new Dictionary<(long, int), Agg>();
            var h = new Dictionary<(long, int), Agg>();
            var highs = new Dictionary<int, long>();
            for (var done = 0; done < count;)
            {
                var sw = Stopwatch.StartNew();
                using var tx = _c.BeginTransaction();
                insert.Transaction = tx; keys.Transaction = tx; idx.Transaction = tx; meta.Transaction = tx; boots.Transaction = tx; r1m.Transaction = tx; r1h.Transaction = tx;
                m.Clear(); h.Clear(); highs.Clear();
                var n = Math.Min(commit, count - done);
                for (var k = 0; k < n; k++, _next++)
                {
                    var device = (int)(_next % _devices);
                    var seq = _next / _devices;
                    var ts = _start + seq * 2000 + device;
                    var t = 20 + (_next % 100) / 10.0;
                    var hum = 40 + (_next % 300) / 10.0;
                    pId.Value = ++_id; pD.Value = _ids[device]; pB.Value = 1; pS.Value = seq; pTs.Value = ts;
                    pT.Value = t; pH.Value = hum; pSid.Value = "dht22"; pLoc.Value = "bench"; pX.Value = "{\"battery_level\":85}";
                    insert.ExecuteNonQuery();
                    if (_v.KeysTable)
                    {
                        kD.Value = _ids[device]; kB.Value = 1; kS.Value = seq; kId.Value = _id;
                        keys.ExecuteNonQuery();
                    }
                    highs[device] = seq;
                    if (_v.Deferred)
                    {
                        var list = _pending[device] ??= [];
                        if (list.Count == 0) _queue.Enqueue(device, _id);
                        list.Add((seq, ts, _id));
                    }
                    Add(m, (ts - ts % 60_000, device), t, hum);
                    Add(h, (ts - ts % 3_600_000, device), t, hum);
                }
                if (_v.BootsTable)
                {
                    foreach (var (device, seq) in highs)
                    {
                        bD.Value = _ids[device]; bB.Value = 1; bS.Value = seq;
                        boots.ExecuteNonQuery();
                    }
                }
                if (_v.Deferred)
                {
                    // Merge the devices that waited longest, each as one sorted run, within a budget per commit:
                    // one leaf page per run instead of one per row, and no commit does all the merging at once.
                    var budget = Math.Max(256, 2 * n);
                    while (budget > 0 && _queue.TryPeek(out var d, out _))
                    {
                        var list = _pending[d]!;
                        if (list.Count < MergeRun) break;
                        _queue.Dequeue();
                        foreach (var (seq, ts, id) in list)
                        {
                            iD.Value = _ids[d]; iTs.Value = ts; iId.Value = id;
                            idx.ExecuteNonQuery();
                            kD.Value = _ids[d]; kB.Value = 1; kS.Value = seq; kId.Value = id;
                            keys.ExecuteNonQuery();
                        }
                        budget -= list.Count;
                        list.Clear();
                    }
                    mV.Value = _id;
                    meta.ExecuteNonQuery();
                }
                Upsert(r1m, m);
                Upsert(r1h, h);
                tx.Commit();
                done += n;
                durations?.Add(sw.Elapsed.TotalMilliseconds);
            }
        }

        private SqliteCommand Rollup(string table)
        {
            var cmd = _c.CreateCommand();
            cmd.CommandText = $"""
                INSERT INTO {table} (bucket, device_id, count, t_min, t_max, t_sum, h_min, h_max, h_sum) VALUES ($b, $d, $n, $tmin, $tmax, $tsum, $hmin, $hmax, $hsum)
                ON CONFLICT DO UPDATE SET count = count + excluded.count, t_min = min(t_min, excluded.t_min), t_max = max(t_max, excluded.t_max), t_sum = t_sum + excluded.t_sum,
                  h_min = min(h_min, excluded.h_min), h_max = max(h_max, excluded.h_max), h_sum = h_sum + excluded.h_sum
                """;
            foreach (var p in new[] { "$b", "$d", "$n", "$tmin", "$tmax", "$tsum", "$hmin", "$hmax", "$hsum" }) cmd.Parameters.Add(p, SqliteType.Real);
            return cmd;
        }

        private void Upsert(SqliteCommand cmd, Dictionary<(long Bucket, int Device), Agg> groups)
        {
            foreach (var ((bucket, device), a) in groups)
            {
                cmd.Parameters[0].Value = bucket; cmd.Parameters[1].Value = _ids[device]; cmd.Parameters[2].Value = a.Count;
                cmd.Parameters[3].Value = a.TMin; cmd.Parameters[4].Value = a.TMax; cmd.Parameters[5].Value = a.TSum;
                cmd.Parameters[6].Value = a.HMin; cmd.Parameters[7].Value = a.HMax; cmd.Parameters[8].Value = a.HSum;
                cmd.ExecuteNonQuery();
            }
        }

        private static void Add(Dictionary<(long, int), Agg> groups, (long, int) key, double t, double h)
        {
            if (!groups.TryGetValue(key, out var a)) a = new Agg { TMin = t, TMax = t, HMin = h, HMax = h };
            a.Count++; a.TSum += t; a.HSum += h;
            a.TMin = Math.Min(a.TMin, t); a.TMax = Math.Max(a.TMax, t); a.HMin = Math.Min(a.HMin, h); a.HMax = Math.Max(a.HMax, h);
            groups[key] = a;
        }

        private struct Agg
        {
            public int Count;
            public double TMin, TMax, TSum, HMin, HMax, HSum;
        }
    }
}
