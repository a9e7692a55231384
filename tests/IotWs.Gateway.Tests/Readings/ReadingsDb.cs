using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Tests.Readings;

/// <summary>Looks into the gateway's SQLite file through a FRESH connection (no pool): what is there is on disk.</summary>
internal static class ReadingsDb
{
    public static SqliteConnection Open(string dataDir)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDir, "iotws.db"),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        c.Open();
        return c;
    }

    public static long Scalar(string dataDir, string sql, params (string Name, object Value)[] args)
    {
        using var c = Open(dataDir);
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
        return Convert.ToInt64(cmd.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    public static List<object?[]> Rows(string dataDir, string sql, params (string Name, object Value)[] args)
    {
        using var c = Open(dataDir);
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
        using var r = cmd.ExecuteReader();
        var rows = new List<object?[]>();
        while (r.Read())
        {
            var row = new object?[r.FieldCount];
            for (var i = 0; i < r.FieldCount; i++) row[i] = r.IsDBNull(i) ? null : r.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    public static long ReadingCount(string dataDir) => Scalar(dataDir, "SELECT count(*) FROM readings");

    /// <summary>
    /// Asserts that the rollup tables, plus the readings committed since their last flush (id above rollup_through),
    /// equal count/min/max/avg computed with GROUP BY over the raw rows, for every (device, bucket). Returns the buckets compared.
    /// </summary>
    public static int AssertRollupsMatchRaw(string dataDir, bool requireFlushed = false)
    {
        var compared = 0;
        foreach (var (table, step) in new[] { ("rollup_1m", 60_000L), ("rollup_1h", 3_600_000L) })
        {
            var through = Scalar(dataDir, "SELECT COALESCE((SELECT value FROM readings_meta WHERE key = 'rollup_through'), 0)");
            if (requireFlushed) Assert.Equal(Scalar(dataDir, "SELECT COALESCE(max(id), 0) FROM readings"), through);
            var combined = new Dictionary<(string, long), (long N, double TMin, double TMax, double TSum, double HMin, double HMax, double HSum)>();
            void Merge(object?[] r)
            {
                var key = ((string)r[0]!, (long)r[1]!);
                var part = ((long)r[2]!, (double)r[3]!, (double)r[4]!, (double)r[5]!, (double)r[6]!, (double)r[7]!, (double)r[8]!);
                combined[key] = combined.TryGetValue(key, out var a)
                    ? (a.N + part.Item1, Math.Min(a.TMin, part.Item2), Math.Max(a.TMax, part.Item3), a.TSum + part.Item4, Math.Min(a.HMin, part.Item5), Math.Max(a.HMax, part.Item6), a.HSum + part.Item7)
                    : part;
            }
            foreach (var r in Rows(dataDir, $"SELECT device_id, bucket, count, t_min, t_max, t_sum, h_min, h_max, h_sum FROM {table}")) Merge(r);
            foreach (var r in Rows(dataDir, $"""
                SELECT device_id, ts - ts % {step}, count(*), min(temperature), max(temperature), sum(temperature), min(humidity), max(humidity), sum(humidity)
                FROM readings WHERE id > $t GROUP BY 1, 2
                """, ("$t", through))) Merge(r);
            var raw = Rows(dataDir, $"""
                SELECT device_id, ts - ts % {step}, count(*), min(temperature), max(temperature), avg(temperature), min(humidity), max(humidity), avg(humidity)
                FROM readings GROUP BY 1, 2
                """);
            Assert.Equal(raw.Count, combined.Count);
            foreach (var r in raw)
            {
                var a = combined[((string)r[0]!, (long)r[1]!)];
                Assert.Equal((long)r[2]!, a.N);
                Assert.Equal((double)r[3]!, a.TMin);
                Assert.Equal((double)r[4]!, a.TMax);
                Assert.Equal((double)r[5]!, a.TSum / a.N, 9);
                Assert.Equal((double)r[6]!, a.HMin);
                Assert.Equal((double)r[7]!, a.HMax);
                Assert.Equal((double)r[8]!, a.HSum / a.N, 9);
                compared++;
            }
        }
        return compared;
    }
}
