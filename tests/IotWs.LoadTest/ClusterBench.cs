using System.Globalization;
using System.Text;
using IotWs.Gateway.Tests.Infrastructure;
using Npgsql;

namespace IotWs.LoadTest;

/// <summary>
/// cluster: issue 14's figures in one run. At each device count, ingest (window W, as fast as acks allow) on the
/// bare-Kestrel baseline, then one gateway on SQLite, one gateway on PostgreSQL, and two gateways on the same
/// PostgreSQL with the devices split between them, in cluster mode (bus on Mosquitto) and, to show what the bus costs,
/// without it ("plain": two gateways that only share the database); then device → dashboard latency
/// with the devices on one node and half the dashboards on the other. PostgreSQL (durable: fsync and synchronous
/// commit on, like SQLite's Synchronous=Full) and Mosquitto are started for the run, on loopback. Ends with a summary
/// table (markdown), each row with the load average it was measured at.
/// </summary>
internal static class ClusterBench
{
    public static async Task<int> RunAsync(BenchOptions o)
    {
        var deviceCounts = o.Ints("devices", [100, 1000]);
        var seconds = o.Int("seconds", 8);
        var warmup = o.Int("warmup", 2);
        var window = o.Int("window", 32);
        var skip = o.String("skip", "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var interval = SuiteBench.CommitIntervalMs(o);
        var started = DateTimeOffset.UtcNow;
        Console.WriteLine($"cluster: window {window}, {warmup} s warm-up + {seconds} s per phase, gateway gc {o.String("gc", "project")}, settings '{o.String("set", "")}', CommitInterval {interval} ms");
        Console.WriteLine(BenchTarget.Machine());
        Console.WriteLine($"command: dotnet IotWs.LoadTest.dll cluster {string.Join(' ', Environment.GetCommandLineArgs().Skip(2))}");

        await using var postgres = await PostgresServer.StartAsync(durable: true);
        await using var broker = await Mosquitto.StartAsync();
        var postmaster = Postmaster(postgres.Port);
        Func<TimeSpan> helpers = () => ProcStat.TreeCpuTime(postmaster) + ProcStat.CpuTime(broker.Pid);
        Console.WriteLine($"PostgreSQL on 127.0.0.1:{postgres.Port} (fsync on, synchronous_commit on), Mosquitto on 127.0.0.1:{broker.Port}");

        var rows = new List<string[]>();
        foreach (var n in skip.Contains("ingest") ? [] : deviceCounts)
        {
            var load = $"{n:N0} × window {window}";
            SuiteBench.Section($"ingest, {n:N0} devices × window {window}: baseline, then each gateway set-up");
            var baseline = await IngestBench.RunOneAsync("baseline", n, window, 0, seconds, warmup, o);
            IngestBench.Print(baseline, null);
            rows.Add(Row(load, "baseline (bare Kestrel)", baseline, null, null));
            if (!skip.Contains("sqlite"))
            {
                var sqlite = await IngestBench.RunOneAsync("sqlite", n, window, 0, seconds, warmup, o);
                IngestBench.Print(sqlite, baseline);
                rows.Add(Row(load, "1 node, SQLite", sqlite, baseline, null));
            }
            IngestBench.Result? one = null;
            if (!skip.Contains("postgres"))
            {
                one = await PostgresIngestAsync("pg-1", 1, n, window, seconds, warmup, o, postgres, broker, helpers);
                IngestBench.Print(one, baseline);
                rows.Add(Note(Row(load, "1 node, PostgreSQL", one, baseline, null), $"target ≥ 0.5× baseline: {(one.Rate / baseline.Rate >= 0.5 ? "met" : "MISSED")}"));
            }
            foreach (var (name, cluster) in new[] { ("two", true), ("plain", false) })
            {
                if (skip.Contains(name)) continue;
                var two = await PostgresIngestAsync(cluster ? "pg-2" : "pg-2-plain", 2, n, window, seconds, warmup, o, postgres, cluster ? broker : null, helpers);
                IngestBench.Print(two, baseline);
                var row = Row(load, cluster ? "2 nodes, PostgreSQL, cluster" : "2 nodes, PostgreSQL, no bus (shared database only)", two, baseline, one);
                rows.Add(one is null || !cluster ? row : Note(row, $"target ≥ 1.6× one node: {(two.Rate / one.Rate >= 1.6 ? "met" : "MISSED")}"));
            }
        }

        if (!skip.Contains("latency"))
        {
            var devices = o.Int("latency-devices", 1000);
            var dashboards = o.Int("dashboards", 10);
            SuiteBench.Section($"device → dashboard across nodes: {devices:N0} devices at 1 reading/s on node A; {dashboards} dashboards on sensor_updates, even ones on node B, odd ones on node A");
            await using var nodes = await PostgresNodes.StartAsync(o, postgres, broker, 2, devices);
            var f = await FanoutBench.MeasureOnAsync(nodes.Provisioning, [nodes.Servers[0]], [nodes.Servers[1], nodes.Servers[0]], dashboards, seconds, warmup);
            var (cross, same) = (f.ByDashboardNode[0], f.ByDashboardNode[1]);
            Console.WriteLine($"dashboards on node B (other node): p50 {cross.P50:0.0} ms  p99 {cross.P99:0.0} ms over {cross.Count:N0}; on node A (same node): p50 {same.P50:0.0} ms  p99 {same.P99:0.0} ms over {same.Count:N0}");
            var met = cross.P99 <= interval + 30;
            rows.Add([$"{devices:N0} × 1/s → {dashboards} dashboards", "device on A → dashboard on B", "", "",
                $"delivery p50 {cross.P50:0.0} / p99 **{cross.P99:0.0}** ms (same node: {same.P50:0.0} / {same.P99:0.0} ms); ack p99 {f.AckP99:0.0} ms", "", SuiteBench.Mb(f.Rss),
                $"**{f.Drops} drops**, {f.Errors} errors; target p99 ≤ commit interval + 30 = {interval + 30:0} ms: {(met ? "met" : "MISSED")}", f.Load]);
        }

        SuiteBench.Section($"summary (started {started:yyyy-MM-dd HH:mm} UTC, ended {DateTimeOffset.UtcNow:HH:mm} UTC)");
        var table = new StringBuilder();
        table.AppendLine("| load | set-up | readings/s | ratio | ack latency p50 / p95 / p99 | CPU (% of one core) | RSS | notes | load average |");
        table.AppendLine("| --- | --- | ---: | ---: | --- | --- | ---: | --- | --- |");
        foreach (var r in rows) table.AppendLine("| " + string.Join(" | ", r) + " |");
        Console.Write(table);
        return 0;
    }

    private static async Task<IngestBench.Result> PostgresIngestAsync(string kind, int nodeCount, int n, int window, int seconds, int warmup, BenchOptions o,
        PostgresServer postgres, Mosquitto? broker, Func<TimeSpan> helpers)
    {
        await using var nodes = await PostgresNodes.StartAsync(o, postgres, broker, nodeCount, n);
        return await IngestBench.RunOnAsync(kind, nodes.Provisioning, nodes.Servers, nodes.StoredRows, window, 0, seconds, warmup, helpers);
    }

    private static string[] Row(string load, string setup, IngestBench.Result r, IngestBench.Result? baseline, IngestBench.Result? oneNode)
    {
        var ratio = baseline is null ? "" : $"**{r.Rate / baseline.Rate:0.00}×** baseline" + (oneNode is null ? "" : $", **{r.Rate / oneNode.Rate:0.00}×** 1 node");
        var cpu = $"server {r.ServerCpu:0}%"
            + (double.IsNaN(r.HelperCpu) ? "" : $", PostgreSQL+broker {r.HelperCpu:0}%")
            + $", generator {r.GeneratorCpu:0}%";
        var notes = baseline is null ? "" : SuiteBench.Durability(r) + $"; {SuiteBench.PerCpu(r):N0} per server CPU-s";
        return [load, setup, $"{r.Rate:N0}/s", ratio, SuiteBench.Ms(r), cpu, SuiteBench.Mb(r.RssAfter == 0 ? r.RssBytes : r.RssAfter), notes, r.Load];
    }

    private static string[] Note(string[] row, string note)
    {
        row[7] = row[7].Length == 0 ? note : row[7] + "; " + note;
        return row;
    }

    /// <summary>The pid of the postmaster listening on <paramref name="port"/> (its command line holds "-p PORT").</summary>
    private static int Postmaster(int port)
    {
        var p = port.ToString(CultureInfo.InvariantCulture);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            try
            {
                var args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (args[0].EndsWith("/postgres", StringComparison.Ordinal) && args.Zip(args.Skip(1)).Any(a => a.First == "-p" && a.Second == p)) return pid;
            }
            catch (IOException)
            {
            }
        }
        throw new InvalidOperationException($"no postmaster on port {port} found in /proc");
    }

    /// <summary>
    /// One or more gateways on a fresh database of the run's PostgreSQL, each on its own data directory, started one
    /// after the other (the first makes the admin key). With a broker and more than one node: cluster mode.
    /// </summary>
    private sealed class PostgresNodes : IAsyncDisposable
    {
        private readonly string _connectionString;

        private PostgresNodes(Provisioning provisioning, string connectionString)
        {
            Provisioning = provisioning;
            _connectionString = connectionString;
        }

        public Provisioning Provisioning { get; }
        public List<ChildServer> Servers { get; } = [];

        public static async Task<PostgresNodes> StartAsync(BenchOptions o, PostgresServer postgres, Mosquitto? broker, int count, int devices)
        {
            var connectionString = await postgres.CreateDatabaseAsync();
            string[] storage = ["Storage:Provider=Postgres", "Storage:ConnectionString=" + connectionString];
            var nodes = new PostgresNodes(Provisioning.Create(devices, [.. storage.Select(s => "--Gateway:" + s)]), connectionString);
            try
            {
                for (var i = 1; i <= count; i++)
                {
                    var cluster = count > 1 && broker is not null
                        ? new[] { "Cluster:Enabled=true", $"Cluster:NodeId=node-{i}", "Cluster:Mqtt:Host=127.0.0.1", $"Cluster:Mqtt:Port={broker.Port}" }
                        : [];
                    var dataDir = i == 1 ? nodes.Provisioning.DataDir : nodes.Provisioning.NodeDataDir(i);
                    nodes.Servers.Add(await BenchTarget.StartGatewayAsync(dataDir, $"node-{i}", o, null, [.. storage, .. cluster]));
                }
                return nodes;
            }
            catch
            {
                await nodes.DisposeAsync();
                throw;
            }
        }

        /// <summary>Rows in the readings table, through a fresh connection.</summary>
        public long StoredRows()
        {
            using var c = new NpgsqlConnection(_connectionString);
            c.Open();
            using var cmd = new NpgsqlCommand("SELECT count(*) FROM readings", c);
            return (long)cmd.ExecuteScalar()!;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var s in Servers) await s.DisposeAsync();
            Provisioning.Dispose();
        }
    }
}
