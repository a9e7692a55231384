using System.Diagnostics;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Storage.Postgres;
using IotWs.Gateway.Storage.Sqlite;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace IotWs.LoadTest;

/// <summary>
/// store: the gateway's own reading stores driven directly (no network), readings interleaved from N devices in
/// commits of C readings: the writer thread's cost per reading, without Kestrel or the load generator. Providers:
/// sqlite (the data directory's file), postgres-copy (binary COPY into a staging table, then one merge) and
/// postgres-insert (one multi-row INSERT from arrays) on a real, durable PostgreSQL started for the run.
/// </summary>
internal static class StoreBench
{
    public static async Task<int> RunAsync(BenchOptions o)
    {
        var deviceCounts = o.Ints("devices", [1000]);
        var rows = o.Int("rows", 300_000);
        var commit = o.Int("commit", 1000);
        var providers = o.String("providers", "sqlite").Split(',', StringSplitOptions.RemoveEmptyEntries);
        PostgresServer? postgres = null;
        try
        {
            if (providers.Any(p => p.StartsWith("postgres", StringComparison.Ordinal)))
            {
                postgres = await PostgresServer.StartAsync(durable: true);
                Console.WriteLine($"store: PostgreSQL started on 127.0.0.1:{postgres.Port} (fsync on, synchronous_commit on)");
            }
            // Rounds interleave the providers, so a burst of load from elsewhere on the machine hits them alike.
            var repeat = o.Int("repeat", 1);
            var results = new List<(string Provider, int Devices, double PerSecond)>();
            for (var round = 0; round < repeat; round++)
            {
                foreach (var devices in deviceCounts)
                {
                    foreach (var provider in providers)
                    {
                        var perSecond = await RunOneAsync(o, provider, devices, rows, commit, postgres);
                        results.Add((provider, devices, perSecond));
                    }
                }
            }
            // Medians over the rounds, and ratios against the first provider named, measured in this same run.
            foreach (var devices in deviceCounts)
            {
                double Median(string provider)
                {
                    var values = results.Where(r => r.Devices == devices && r.Provider == provider).Select(r => r.PerSecond).Order().ToArray();
                    return values[values.Length / 2];
                }
                var baseline = Median(providers[0]);
                foreach (var provider in providers)
                {
                    var median = Median(provider);
                    Console.WriteLine($"store: {devices} devices, median of {repeat}: {provider} {median:N0} readings/s = {median / baseline:0.00}x {providers[0]}");
                }
            }
        }
        finally
        {
            if (postgres is not null) await postgres.DisposeAsync();
        }
        return 0;
    }

    private static async Task<double> RunOneAsync(BenchOptions o, string provider, int devices, int rows, int commit, PostgresServer? postgres)
    {
        var dir = Path.Combine(Path.GetTempPath(), "iotws-store-" + Guid.NewGuid().ToString("N")[..8]);
        var options = Options.Create(new GatewayOptions { DataDirectory = dir });
        options.Value.Storage.Synchronous = o.String("sync", "Full");
        options.Value.Storage.IndexMergeRun = o.Int("merge-run", options.Value.Storage.IndexMergeRun);
        var protector = new FieldProtector(new EphemeralDataProtectionProvider(), options);
        PostgresDatabase? pg = null;
        IReadingStore store;
        switch (provider)
        {
            case "sqlite":
                store = new SqliteReadingStore(new SqliteDatabase(dir), options, protector);
                break;
            case "postgres-copy" or "postgres-insert":
                pg = new PostgresDatabase(await postgres!.CreateDatabaseAsync());
                store = new PostgresReadingStore(pg, protector) { Ingest = provider == "postgres-copy" ? PostgresIngest.CopyThenMerge : PostgresIngest.ArrayInsert };
                break;
            default:
                throw new ArgumentException($"unknown provider '{provider}': use sqlite, postgres-copy or postgres-insert");
        }
        try
        {
            store.Open();
            var ids = Enumerable.Range(0, devices).Select(i => $"esp32-{i:D5}").ToArray();
            var start = DateTimeOffset.UtcNow.AddHours(-1);
            long next = 0;
            var batch = new WriteBatch();
            var sw = Stopwatch.StartNew();
            var commits = new List<double>();
            while (next < rows)
            {
                batch.Clear();
                for (var k = 0; k < commit && next < rows; k++, next++)
                {
                    var d = (int)(next % devices);
                    var seq = next / devices;
                    batch.Readings.Add(new ReadingWrite(ids[d], 1, seq, start.AddMilliseconds(seq * 2000 + d), null, 20 + seq % 10, 40 + seq % 30, "dht22", "bench", null));
                }
                var c = Stopwatch.StartNew();
                store.Commit(batch);
                commits.Add(c.Elapsed.TotalMilliseconds);
            }
            var elapsed = sw.Elapsed;
            commits.Sort();
            var perSecond = rows / elapsed.TotalSeconds;
            Console.WriteLine($"store: {provider}, {devices} devices, {rows:N0} readings in commits of {commit}"
                + (provider == "sqlite" ? $", synchronous={options.Value.Storage.Synchronous}, merge run {options.Value.Storage.IndexMergeRun}" : "")
                + $": {perSecond:N0} readings/s, {elapsed.TotalMicroseconds / rows:0.0} µs each, commit p50 {commits[commits.Count / 2]:0.0} ms p99 {commits[(int)(commits.Count * 0.99)]:0.0} ms");
            return perSecond;
        }
        finally
        {
            (store as IDisposable)?.Dispose();
            pg?.Dispose();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
