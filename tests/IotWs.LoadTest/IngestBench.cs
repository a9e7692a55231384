using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace IotWs.LoadTest;

/// <summary>
/// ingest: N authenticated devices each keep a window of W unacknowledged seq'd readings for D seconds, against the
/// bare baseline and then the gateway; reports acked readings/s, ack latency, errors, CPU and RSS, and checks that
/// every reading the gateway acknowledged is in its database.
/// </summary>
internal static class IngestBench
{
    /// <summary>One measured phase. DiskBytesPerReading is write_bytes of /proc/&lt;pid&gt;/io per acked reading (gateway only).</summary>
    internal sealed record Result(string Kind, int Devices, double Rate, (double P50, double P99, double P999, double Max) Latency,
        long Errors, double ServerCpu, double GeneratorCpu, long RssBytes, string Notes, string Load)
    {
        public double P95 { get; init; } = double.NaN;
        public long RssAfter { get; init; }
        public double DiskBytesPerReading { get; init; } = double.NaN;
        public double CommitsPerSecond { get; init; } = double.NaN;
        public double MeanCommitMs { get; init; } = double.NaN;
        public bool Durable { get; init; } = true;
        /// <summary>CPU of the servers' helpers (PostgreSQL, the broker) while measured, % of one core; NaN when none.</summary>
        public double HelperCpu { get; init; } = double.NaN;
    }

    public static async Task<int> RunAsync(BenchOptions o)
    {
        var deviceCounts = o.Ints("devices", [100, 1000]);
        var seconds = o.Int("seconds", 20);
        var warmup = o.Int("warmup", 3);
        var window = o.Int("window", 32);
        var rate = o.Double("rate", 0);
        Console.WriteLine($"ingest: window {window}, {(rate > 0 ? $"paced at {rate:N0} readings/s in total" : "as fast as acks allow")}, {warmup} s warm-up + {seconds} s measured, gateway gc {o.String("gc", "project")}, extra settings '{o.String("set", "")}'");
        Console.WriteLine(BenchTarget.Machine());
        var results = new List<Result>();
        foreach (var n in deviceCounts)
        {
            var baseline = o.Flag("no-baseline") ? null : await RunOneAsync("baseline", n, window, rate, seconds, warmup, o);
            if (baseline is not null) Print(baseline, null);
            // --before <dir or dll>: an earlier build of the gateway, measured in the same run against the same baseline.
            if (o.String("before", "") is { Length: > 0 } before)
            {
                var earlier = await RunOneAsync("before", n, window, rate, seconds, warmup, o, BenchTarget.GatewayDllAt(before));
                Print(earlier, baseline);
                results.Add(earlier);
            }
            var gateway = await RunOneAsync("gateway", n, window, rate, seconds, warmup, o);
            Print(gateway, baseline);
            results.Add(gateway);
        }
        return results.Any(r => r.Errors > 0) ? 1 : 0;
    }

    internal static void Print(Result r, Result? baseline)
    {
        var ratio = baseline is null ? "" : $"  ratio {r.Rate / baseline.Rate:0.00}x baseline";
        Console.WriteLine($"{r.Kind,-9} N={r.Devices,-5} [load {r.Load}] {r.Rate,9:N0} acked/s  ack p50 {r.Latency.P50,6:0.0} ms  p99 {r.Latency.P99,6:0.0} ms  p99.9 {r.Latency.P999,6:0.0} ms  max {r.Latency.Max,6:0.0} ms  errors {r.Errors}  server CPU {r.ServerCpu,5:0}%  generator CPU {r.GeneratorCpu,5:0}%  RSS {r.RssBytes / 1048576.0,6:0.0} MB{ratio}");
        if (r.Notes.Length > 0) Console.WriteLine($"          {r.Notes}");
    }

    /// <summary>One phase against the baseline or a single gateway on its own SQLite data directory.</summary>
    internal static async Task<Result> RunOneAsync(string kind, int n, int window, double rate, int seconds, int warmup, BenchOptions o, string? gatewayDll = null)
    {
        using var provisioning = Provisioning.Create(n);
        var isGateway = kind != "baseline";
        await using var server = isGateway ? await BenchTarget.StartGatewayAsync(provisioning, o, gatewayDll) : await BenchTarget.StartBaselineAsync(o);
        return await RunOnAsync(kind, provisioning, [server], isGateway ? () => SqliteRows(provisioning.DataDir) : null, window, rate, seconds, warmup);
    }

    /// <summary>Rows in the readings table of a data directory's iotws.db, read through a fresh connection.</summary>
    internal static long SqliteRows(string dataDir)
    {
        using var c = new SqliteConnection($"Data Source={Path.Combine(dataDir, "iotws.db")};Mode=ReadOnly;Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM readings";
        return (long)cmd.ExecuteScalar()!;
    }

    /// <summary>
    /// One phase against servers already started: the provisioned devices are spread over them (device i on server
    /// i % count); CPU, memory, bytes written and commit counters are summed over the servers. <paramref name="storedRows"/>
    /// counts the readings in the database (null for the baseline, which stores nothing): every ack must be there.
    /// </summary>
    internal static async Task<Result> RunOnAsync(string kind, Provisioning provisioning, IReadOnlyList<ChildServer> servers, Func<long>? storedRows,
        int window, double rate, int seconds, int warmup, Func<TimeSpan>? helperCpu = null)
    {
        var n = provisioning.Devices.Count;
        var isGateway = storedRows is not null;
        using var stop = new CancellationTokenSource();
        var clients = await LoadClient.ConnectManyAsync(servers.Select(s => s.WsUri).ToList(), provisioning.Devices, device: true, bootId: 1, parallel: 64, CancellationToken.None);
        var latencies = new Latencies();
        long acked = 0, ackedInWindow = 0, errors = 0, sent = 0;
        var measuring = 0;
        var ring = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)window * 2);
        var windows = new SemaphoreSlim[n];
        var readers = new Task[n];
        var senders = new Task[n];
        for (var i = 0; i < n; i++)
        {
            var client = clients[i];
            var gate = windows[i] = new SemaphoreSlim(window);
            var sentAt = new long[ring];
            readers[i] = client.ReadLoopAsync(message =>
            {
                var reply = Reply.Parse(message.Span);
                if (reply.Type == "data_response")
                {
                    var now = Stopwatch.GetTimestamp();
                    if (!reply.Success) Interlocked.Increment(ref errors);
                    else
                    {
                        Interlocked.Increment(ref acked);
                        if (Volatile.Read(ref measuring) == 1)
                        {
                            Interlocked.Increment(ref ackedInWindow);
                            latencies.Add(BenchTarget.Micros(sentAt[reply.Seq & (ring - 1)], now));
                        }
                    }
                    gate.Release();
                }
                else if (reply.Type == "error")
                {
                    Interlocked.Increment(ref errors);
                }
            }, CancellationToken.None);
            var interval = rate > 0 ? TimeSpan.FromSeconds(n / rate) : TimeSpan.Zero;
            senders[i] = Task.Run(async () =>
            {
                try
                {
                    // Paced mode (--rate): each device sends on its own schedule, offset randomly within the first interval.
                    var next = Stopwatch.GetTimestamp() + (long)(Random.Shared.NextDouble() * interval.TotalSeconds * Stopwatch.Frequency);
                    for (long seq = 1; ; seq++)
                    {
                        if (rate > 0)
                        {
                            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                            if (wait > TimeSpan.Zero) await Task.Delay(wait, stop.Token);
                            next += (long)(interval.TotalSeconds * Stopwatch.Frequency);
                        }
                        await gate.WaitAsync(stop.Token);
                        var text = "{\"type\":\"data\",\"dataType\":\"sensor\",\"seq\":" + seq + ",\"bootId\":1,\"timestamp\":" + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()
                            + ",\"data\":{\"temperature\":" + (20 + (seq % 50) / 10.0).ToString(System.Globalization.CultureInfo.InvariantCulture)
                            + ",\"humidity\":" + (40 + seq % 30) + ",\"sensor_id\":\"" + client.Id + "\"}}";
                        sentAt[seq & (ring - 1)] = Stopwatch.GetTimestamp();
                        // Not cancellable: cancelling a WebSocket send aborts the connection and loses the acks in flight.
                        await client.SendAsync(Encoding.UTF8.GetBytes(text), CancellationToken.None);
                        Interlocked.Increment(ref sent);
                    }
                }
                catch (OperationCanceledException)
                {
                }
                catch (System.Net.WebSockets.WebSocketException)
                {
                    Interlocked.Increment(ref errors);
                }
            });
        }

        await Task.Delay(TimeSpan.FromSeconds(warmup));
        var load = BenchTarget.LoadAverage();
        var before = isGateway ? await StatusesAsync(servers, provisioning.ViewerKey) : [];
        var cpu0 = CpuTime(servers);
        var helper0 = helperCpu?.Invoke() ?? TimeSpan.Zero;
        var io0 = WrittenBytes(servers);
        var gen0 = BenchTarget.SelfCpu();
        var t0 = Stopwatch.GetTimestamp();
        Volatile.Write(ref measuring, 1);
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        Volatile.Write(ref measuring, 0);
        var wall = Stopwatch.GetElapsedTime(t0);
        var cpu = CpuTime(servers) - cpu0;
        var helper = (helperCpu?.Invoke() ?? TimeSpan.Zero) - helper0;
        var io1 = WrittenBytes(servers);
        var gen = BenchTarget.SelfCpu() - gen0;
        var rss = servers.Sum(s => s.Rss);

        // Stop sending and wait for every reading in flight to be answered.
        await stop.CancelAsync();
        await Task.WhenAll(senders);
        var drain = Stopwatch.StartNew();
        while (Interlocked.Read(ref acked) + Interlocked.Read(ref errors) < Interlocked.Read(ref sent) && drain.Elapsed < TimeSpan.FromSeconds(15)) await Task.Delay(20);

        var notes = "";
        long rssAfterLoad = 0;
        double diskPerReading = double.NaN, commitsPerSecond = double.NaN, meanCommitMs = double.NaN;
        var durable = true;
        if (isGateway)
        {
            var status = await StatusesAsync(servers, provisioning.ViewerKey);
            // Memory after the load, every device still connected.
            await Task.Delay(TimeSpan.FromSeconds(2));
            var rssAfter = rssAfterLoad = servers.Sum(s => s.Rss);
            // Durable: every acknowledged reading is in the database, read through a fresh connection.
            var rows = storedRows!();
            var commits = (long)Count(status, "commits");
            var measured = Math.Max(1, Interlocked.Read(ref ackedInWindow));
            var commitsInWindow = Count(status, "commits") - Count(before, "commits");
            var commitSeconds = Count(status, "commitSecondsTotal") - Count(before, "commitSecondsTotal");
            notes = commitsInWindow <= 0 ? "" : $"commits while measured: {commitsInWindow / wall.TotalSeconds:N1}/s, mean commit {(commitSeconds > 0 ? (1000 * commitSeconds / commitsInWindow).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) : "?")} ms, {measured / commitsInWindow:N1} readings/commit; "
                + $"RSS {rssAfter / 1048576.0:0.0} MB after the load with {n:N0} connected (peak {servers.Sum(s => s.PeakRss) / 1048576.0:0.0} MB{(servers.Count > 1 ? $", summed over {servers.Count} nodes" : "")})\n          ";
            notes += $"durability: {rows:N0} rows in the database for {Interlocked.Read(ref acked):N0} acks ({(rows >= Interlocked.Read(ref acked) ? "all acked readings stored" : "MISSING ROWS")}); "
                + $"{commits:N0} commits, {(commits == 0 ? 0 : rows / (double)commits):N0} readings/commit; DB {status.FirstOrDefault()?.GetProperty("database").GetProperty("sizeBytes").GetInt64() / 1048576.0:0.0} MB; "
                + $"written while measured: {(io1.Written - io0.Written) / 1024.0 / wall.TotalSeconds:N0} KB/s, {(io1.Written - io0.Written) / 1024.0 / measured:0.00} KB per reading (write_bytes to disk {(io1.ToDisk - io0.ToDisk) / 1024.0 / measured:0.00} KB per reading)";
            if (rows < Interlocked.Read(ref acked)) { Interlocked.Increment(ref errors); durable = false; }
            diskPerReading = (io1.ToDisk - io0.ToDisk) / (double)measured;
            commitsPerSecond = commitsInWindow / wall.TotalSeconds;
            meanCommitMs = commitsInWindow > 0 ? 1000 * commitSeconds / commitsInWindow : double.NaN;
        }
        if (Interlocked.Read(ref acked) + Interlocked.Read(ref errors) < Interlocked.Read(ref sent)) notes += $" {Interlocked.Read(ref sent) - Interlocked.Read(ref acked)} readings unanswered at the end;";
        await Task.WhenAll(clients.Select(c => c.CloseAsync()));
        foreach (var c in clients) await c.DisposeAsync();
        await Task.WhenAll(readers);
        return new Result(kind, n, ackedInWindow / wall.TotalSeconds, latencies.Percentiles(), Interlocked.Read(ref errors),
            BenchTarget.CpuPercent(cpu, wall), BenchTarget.CpuPercent(gen, wall), rss, notes, load)
        {
            P95 = latencies.At(0.95),
            RssAfter = rssAfterLoad,
            DiskBytesPerReading = diskPerReading,
            CommitsPerSecond = commitsPerSecond,
            MeanCommitMs = meanCommitMs,
            Durable = durable,
            HelperCpu = helperCpu is null ? double.NaN : BenchTarget.CpuPercent(helper, wall),
        };
    }

    /// <summary>A counter of the "readings" section of /api/status, summed over the nodes.</summary>
    private static double Count(IEnumerable<JsonElement?> statuses, string name) =>
        statuses.Sum(status => status?.GetProperty("readings") is { } r && r.TryGetProperty(name, out var v) ? v.GetDouble() : 0);

    private static async Task<JsonElement?[]> StatusesAsync(IReadOnlyList<ChildServer> servers, string key) =>
        await Task.WhenAll(servers.Select(s => BenchTarget.StatusAsync(s, key)));

    private static TimeSpan CpuTime(IReadOnlyList<ChildServer> servers) => servers.Aggregate(TimeSpan.Zero, (sum, s) => sum + s.CpuTime);

    private static (long Written, long ToDisk) WrittenBytes(IReadOnlyList<ChildServer> servers) =>
        (servers.Sum(s => s.WrittenBytes.Written), servers.Sum(s => s.WrittenBytes.ToDisk));
}
