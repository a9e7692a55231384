using System.Diagnostics;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace IotWs.LoadTest;

/// <summary>
/// store: the gateway's own SqliteReadingStore driven directly (no network), readings interleaved from N devices in
/// commits of C readings: the writer thread's cost per reading, without Kestrel or the load generator.
/// </summary>
internal static class StoreBench
{
    private sealed class NoCompletion : IStoreCompletion
    {
        public void Completed(StoreRequest request) { }
    }

    public static int Run(BenchOptions o)
    {
        var devices = o.Int("devices", 1000);
        var rows = o.Int("rows", 300_000);
        var commit = o.Int("commit", 1000);
        var dir = Path.Combine(Path.GetTempPath(), "iotws-store-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var options = Options.Create(new GatewayOptions { DataDirectory = dir });
            options.Value.Storage.Synchronous = o.String("sync", "Full");
            options.Value.Storage.IndexMergeRun = o.Int("merge-run", options.Value.Storage.IndexMergeRun);
            var db = new GatewayDatabase(dir, [new IdentityStore.Schema(), new ReadingsSchema()]);
            using var store = new SqliteReadingStore(db, options, new FieldProtector(new EphemeralDataProtectionProvider(), options));
            store.Open();
            var ids = Enumerable.Range(0, devices).Select(i => $"esp32-{i:D5}").ToArray();
            var completion = new NoCompletion();
            var start = DateTimeOffset.UtcNow.AddHours(-1);
            long next = 0;
            var batch = new List<StoreRequest>(commit);
            var sw = Stopwatch.StartNew();
            var commits = new List<double>();
            while (next < rows)
            {
                batch.Clear();
                for (var k = 0; k < commit && next < rows; k++, next++)
                {
                    var d = (int)(next % devices);
                    var seq = next / devices;
                    batch.Add(new StoreRequest([new ReadingEntry
                    {
                        DeviceId = ids[d], BootId = 1, Seq = seq, Timestamp = start.AddMilliseconds(seq * 2000 + d),
                        Temperature = 20 + seq % 10, Humidity = 40 + seq % 30, SensorId = "dht22", Location = "bench",
                        StoredSensorId = "dht22", StoredLocation = "bench",
                    }], false, completion, null));
                }
                var c = Stopwatch.StartNew();
                store.Commit(batch);
                commits.Add(c.Elapsed.TotalMilliseconds);
            }
            var elapsed = sw.Elapsed;
            commits.Sort();
            Console.WriteLine($"store: {devices} devices, {rows:N0} readings in commits of {commit}, synchronous={options.Value.Storage.Synchronous}, merge run {options.Value.Storage.IndexMergeRun}: "
                + $"{rows / elapsed.TotalSeconds:N0} readings/s, {elapsed.TotalMicroseconds / rows:0.0} µs each, commit p50 {commits[commits.Count / 2]:0.0} ms p99 {commits[(int)(commits.Count * 0.99)]:0.0} ms, {store.PendingIndexEntries:N0} index entries pending");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, true);
        }
        return 0;
    }
}
