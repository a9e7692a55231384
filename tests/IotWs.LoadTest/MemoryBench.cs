using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace IotWs.LoadTest;

/// <summary>
/// memory: ingest and memory together, for each GC setting, in one run. For every preset the gateway (a child process)
/// takes a load of N devices × window W (acked readings/s, against the bare baseline measured first in the same run),
/// then its RSS is read with the N devices still connected (right after the load and after a quiet spell); a fresh
/// gateway then gets 1,000 and 5,000 idle authenticated connections (RSS growth over the warmed-up gateway / connections).
/// </summary>
internal static class MemoryBench
{
    /// <summary>GC settings as runtime environment variables (integers are hex, as the runtime reads them). "project": none, the gateway's runtimeconfig decides.</summary>
    private static readonly Dictionary<string, string> Presets = new(StringComparer.Ordinal)
    {
        ["project"] = "",
        ["server"] = "DOTNET_gcServer=1;DOTNET_GCDynamicAdaptationMode=0",
        ["server-datas"] = "DOTNET_gcServer=1;DOTNET_GCDynamicAdaptationMode=1",
        ["server-datas-conserve"] = "DOTNET_gcServer=1;DOTNET_GCDynamicAdaptationMode=1;DOTNET_GCConserveMemory=5",
        ["workstation"] = "DOTNET_gcServer=0;DOTNET_gcConcurrent=1",
        ["workstation-conserve"] = "DOTNET_gcServer=0;DOTNET_gcConcurrent=1;DOTNET_GCConserveMemory=5",
        ["workstation-nonconcurrent"] = "DOTNET_gcServer=0;DOTNET_gcConcurrent=0",
        // gen0 budget pinned at 4 MB: the default follows the L3 cache size (260 MB on the benchmark's Xeon, 0–2 MB on a Pi).
        ["workstation-gen0-4m"] = "DOTNET_gcServer=0;DOTNET_gcConcurrent=1;DOTNET_GCgen0size=0x400000",
        ["workstation-gen0-4m-conserve"] = "DOTNET_gcServer=0;DOTNET_gcConcurrent=1;DOTNET_GCgen0size=0x400000;DOTNET_GCConserveMemory=5",
        ["workstation-gen0max-4m-conserve"] = "DOTNET_gcServer=0;DOTNET_gcConcurrent=1;DOTNET_GCGen0MaxBudget=0x400000;DOTNET_GCConserveMemory=5",
        // Not GC: the readings writer's SQLite page cache (Gateway:Storage:CacheSizeKiB as an environment variable),
        // W^X off, tiered compilation / PGO; each on top of the project's GC settings.
        ["project-cache-16m"] = "Gateway__Storage__CacheSizeKiB=16384", // the default before 2026-12-02 16:30 (now 4 MB)
        ["project-cache-2m"] = "Gateway__Storage__CacheSizeKiB=2048",
        ["project-no-trim"] = "Gateway__TrimMemoryWhenIdle=false", // the default before 2026-12-07 (no trim after a busy spell)
        ["project-wx-off"] = "DOTNET_EnableWriteXorExecute=0",
        ["project-pgo-off"] = "DOTNET_TieredPGO=0",
        ["project-tc-off"] = "DOTNET_TieredCompilation=0",
        // glibc's malloc makes an arena per thread that contends (up to 8 per core), and each keeps its freed pages.
        ["project-arena-2"] = "MALLOC_ARENA_MAX=2",
        ["server-datas-gen0-4m"] = "DOTNET_gcServer=1;DOTNET_GCDynamicAdaptationMode=1;DOTNET_GCgen0size=0x400000",
    };

    private sealed record Row(string Preset, int Round, double Rate, double BaselineRate, long Errors, double Cpu, long RssAfterLoad, long RssSettled, long PeakRss, long IdleBase, List<(int N, long Rss)> Idle, string Load);

    public static async Task<int> RunAsync(BenchOptions o)
    {
        var presets = o.String("presets", "project,server,server-datas,server-datas-conserve,workstation,workstation-conserve").Split(',');
        // "preset@dir": that preset on another build (a directory holding IotWs.Gateway.dll), to compare builds in one run.
        foreach (var p in presets.Select(p => p.Split('@')[0]).Where(p => !Presets.ContainsKey(p))) throw new ArgumentException($"unknown preset '{p}': {string.Join(", ", Presets.Keys)}");
        var devices = o.Int("devices", 1000);
        var window = o.Int("window", 4);
        var seconds = o.Int("seconds", 10);
        var warmup = o.Int("warmup", 3);
        var settle = o.Int("settle", 5);
        var counts = o.Ints("connections", [1000, 5000]).Order().ToArray();
        var extraEnv = Environment.GetEnvironmentVariable("IOTWS_CHILD_ENV") ?? "";
        Console.WriteLine($"memory: load {devices} devices × window {window}, {warmup} s + {seconds} s; idle {string.Join(", ", counts)}; presets {string.Join(", ", presets)}");
        Console.WriteLine(BenchTarget.Machine());

        using var idleDevices = Provisioning.Create(counts[^1]);
        var rows = new List<Row>();
        // --rounds R: the presets one after the other, R times, each round with its own baseline (the machine is shared: compare within a round).
        for (var round = 1; round <= o.Int("rounds", 1); round++)
        {
            double baselineRate = double.NaN;
            if (!o.Flag("no-baseline"))
            {
                using var p = Provisioning.Create(devices);
                await using var baseline = await BenchTarget.StartBaselineAsync(o);
                var (rate, errors, _) = await LoadAsync(baseline, p, window, warmup, seconds);
                baselineRate = rate;
                Console.WriteLine($"baseline  [load {BenchTarget.LoadAverage()}] {rate,8:N0} acked/s, errors {errors}, RSS {baseline.Rss / 1048576.0:0.0} MB");
            }

            foreach (var preset in presets)
            {
                var (name, build) = preset.Split('@') is [var presetName, var buildDir] ? (presetName, buildDir) : (preset, "");
                Environment.SetEnvironmentVariable("IOTWS_CHILD_ENV", string.Join(';', new[] { Presets[name], extraEnv }.Where(s => s.Length > 0)));
                var opts = BenchOptions.Parse([.. (o.String("set", "") is { Length: > 0 } set ? new[] { "--set", set } : []), .. (build.Length > 0 ? new[] { "--gateway", build } : []), "--gc", "project"]);
                var load = BenchTarget.LoadAverage();

                // Load, then memory with every device still connected.
                long rssAfter = 0, rssSettled = 0, peak = 0;
                double rate, cpu;
                long errors;
                using (var p = Provisioning.Create(devices))
                {
                    await using var gateway = await BenchTarget.StartGatewayAsync(p, opts);
                    (rate, errors, cpu) = await LoadAsync(gateway, p, window, warmup, seconds, async () =>
                    {
                        await Task.Delay(TimeSpan.FromSeconds(2));
                        var after = gateway.Rss;
                        await Task.Delay(TimeSpan.FromSeconds(settle * 2));
                        if (o.Flag("breakdown")) await PrintBreakdownAsync("settled after the load", gateway, p.ViewerKey);
                        return (after, gateway.Rss, gateway.PeakRss);
                    }, r => (rssAfter, rssSettled, peak) = r);
                }

                // Idle connections on a fresh gateway.
                var idle = new List<(int, long)>();
                long idleBase;
                await using (var gateway = await BenchTarget.StartGatewayAsync(idleDevices, opts))
                {
                    var warm = await LoadClient.ConnectManyAsync(gateway.WsUri, idleDevices.Devices.Take(50).ToList(), true, 1, 50, CancellationToken.None);
                    await Task.WhenAll(warm.Select(c => c.CloseAsync()));
                    foreach (var c in warm) await c.DisposeAsync();
                    await Task.Delay(TimeSpan.FromSeconds(settle));
                    idleBase = gateway.Rss;
                    var open = new List<LoadClient>();
                    try
                    {
                        foreach (var n in counts)
                        {
                            var batch = idleDevices.Devices.Skip(open.Count).Take(n - open.Count).ToList();
                            open.AddRange(await LoadClient.ConnectManyAsync(gateway.WsUri, batch, true, 1, 100, CancellationToken.None));
                            await Task.Delay(TimeSpan.FromSeconds(settle));
                            idle.Add((n, gateway.Rss));
                            if (o.Flag("breakdown")) await PrintBreakdownAsync($"{n:N0} idle connections", gateway, idleDevices.ViewerKey);
                        }
                    }
                    finally
                    {
                        await Task.WhenAll(open.Select(c => c.CloseAsync()));
                        foreach (var c in open) await c.DisposeAsync();
                    }
                }
                var row = new Row(preset, round, rate, baselineRate, errors, cpu, rssAfter, rssSettled, peak, idleBase, idle, load);
                rows.Add(row);
                Print(row, devices);
            }
        }
        Environment.SetEnvironmentVariable("IOTWS_CHILD_ENV", extraEnv);

        Console.WriteLine();
        Console.WriteLine($"| GC ({Environment.ProcessorCount} cores) | round | ingest {devices}×{window} | vs baseline | RSS after load, {devices} connected (settled) | peak | idle base | " + string.Join(" | ", counts.Select(n => $"KB/conn at {n:N0}")) + " |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | " + string.Join(" | ", counts.Select(_ => "---:")) + " |");
        foreach (var r in rows)
        {
            Console.WriteLine($"| {r.Preset} | {r.Round} | {r.Rate:N0}/s | {r.Rate / r.BaselineRate:0.00}x | {Mb(r.RssAfterLoad)} ({Mb(r.RssSettled)}) MB | {Mb(r.PeakRss)} MB | {Mb(r.IdleBase)} MB | "
                + string.Join(" | ", r.Idle.Select(i => ((i.Rss - r.IdleBase) / 1024.0 / i.N).ToString("0.0", CultureInfo.InvariantCulture))) + " |");
        }
        return rows.Any(r => r.Errors > 0) ? 1 : 0;
    }

    /// <summary>--breakdown: where the resident memory is (smaps by kind) and the GC heap the gateway reports in /api/status.</summary>
    private static async Task PrintBreakdownAsync(string when, ChildServer gateway, string key)
    {
        var memory = await BenchTarget.StatusAsync(gateway, key) is { } status && status.TryGetProperty("memory", out var m) ? m : default;
        string Part(string name) => memory.TryGetProperty(name, out var v) ? Mb(v.GetInt64()) : "?"; // older builds lack some
        var heap = memory.ValueKind == System.Text.Json.JsonValueKind.Object
            ? $"GC heap {Part("gcHeapBytes")} MB, committed {Part("gcCommittedBytes")} MB (large {Part("gcLargeObjectBytes")}, pinned {Part("gcPinnedBytes")}), trims {memory.GetProperty("trims").GetInt64()}"
            : "no /api/status";
        Console.WriteLine($"  {when}: RSS {Mb(gateway.Rss)} MB = {ProcStat.SmapsSummary(gateway.Pid, 40)}; {heap}");
        // IOTWS_DUMP_DIR=<dir>: a heap dump at this point too (dotnet-dump, then `dotnet-dump analyze <file> -c "dumpheap -stat"`).
        if (Environment.GetEnvironmentVariable("IOTWS_DUMP_DIR") is { Length: > 0 } dir)
        {
            var file = Path.Combine(dir, $"{gateway.Pid}-{new string(when.Where(char.IsAsciiLetterOrDigit).ToArray())}.dmp");
            using var dump = Process.Start(new ProcessStartInfo("dotnet-dump", ["collect", "--type", "Heap", "-p", gateway.Pid.ToString(CultureInfo.InvariantCulture), "-o", file]) { RedirectStandardOutput = true })!;
            await dump.WaitForExitAsync();
            Console.WriteLine($"  heap dump: {file}");
        }
    }

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture);

    private static void Print(Row r, int devices) =>
        Console.WriteLine($"{r.Preset,-26} [load {r.Load}] {r.Rate,8:N0} acked/s ({r.Rate / r.BaselineRate:0.00}x baseline), errors {r.Errors}, CPU {r.Cpu:0}%; "
            + $"RSS with {devices} connected after the load {Mb(r.RssAfterLoad)} MB, settled {Mb(r.RssSettled)} MB, peak {Mb(r.PeakRss)} MB; idle: base {Mb(r.IdleBase)} MB, "
            + string.Join(", ", r.Idle.Select(i => $"{i.N}: {Mb(i.Rss)} MB = {(i.Rss - r.IdleBase) / 1024.0 / i.N:0.0} KB/conn")));

    /// <summary>
    /// Every device keeps <paramref name="window"/> readings unacknowledged; returns acked readings/s over the measured
    /// seconds, errors and the server's CPU %. <paramref name="whileConnected"/> runs after the load, devices still connected.
    /// </summary>
    private static async Task<(double Rate, long Errors, double Cpu)> LoadAsync<T>(ChildServer server, Provisioning p, int window, int warmup, int seconds,
        Func<Task<T>>? whileConnected = null, Action<T>? result = null)
    {
        var clients = await LoadClient.ConnectManyAsync(server.WsUri, p.Devices, true, 1, 64, CancellationToken.None);
        using var stop = new CancellationTokenSource();
        long acked = 0, errors = 0, sent = 0, measuredAcks = 0;
        var measuring = 0;
        var readers = new List<Task>();
        var senders = new List<Task>();
        foreach (var client in clients)
        {
            var gate = new SemaphoreSlim(window);
            readers.Add(client.ReadLoopAsync(message =>
            {
                var reply = Reply.Parse(message.Span);
                if (reply.Type == "data_response")
                {
                    if (!reply.Success) Interlocked.Increment(ref errors);
                    Interlocked.Increment(ref acked);
                    if (Volatile.Read(ref measuring) == 1) Interlocked.Increment(ref measuredAcks);
                    gate.Release();
                }
                else if (reply.Type == "error")
                {
                    Interlocked.Increment(ref errors);
                }
            }, CancellationToken.None));
            senders.Add(Task.Run(async () =>
            {
                try
                {
                    for (long seq = 1; ; seq++)
                    {
                        await gate.WaitAsync(stop.Token);
                        var text = "{\"type\":\"data\",\"dataType\":\"sensor\",\"seq\":" + seq + ",\"bootId\":1,\"timestamp\":" + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()
                            + ",\"data\":{\"temperature\":" + (20 + seq % 50 / 10.0).ToString(CultureInfo.InvariantCulture) + ",\"humidity\":" + (40 + seq % 30) + ",\"sensor_id\":\"" + client.Id + "\"}}";
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
            }));
        }
        await Task.Delay(TimeSpan.FromSeconds(warmup));
        var cpu0 = server.CpuTime;
        var t0 = Stopwatch.GetTimestamp();
        Volatile.Write(ref measuring, 1);
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        Volatile.Write(ref measuring, 0);
        var wall = Stopwatch.GetElapsedTime(t0);
        var cpu = server.CpuTime - cpu0;
        await stop.CancelAsync();
        await Task.WhenAll(senders);
        var drain = Stopwatch.StartNew();
        while (Interlocked.Read(ref acked) < Interlocked.Read(ref sent) && drain.Elapsed < TimeSpan.FromSeconds(15)) await Task.Delay(20);
        if (Interlocked.Read(ref acked) < Interlocked.Read(ref sent)) errors += Interlocked.Read(ref sent) - Interlocked.Read(ref acked);
        if (whileConnected is not null) result!(await whileConnected());
        await Task.WhenAll(clients.Select(c => c.CloseAsync()));
        foreach (var c in clients) await c.DisposeAsync();
        await Task.WhenAll(readers);
        return (Interlocked.Read(ref measuredAcks) / wall.TotalSeconds, Interlocked.Read(ref errors), BenchTarget.CpuPercent(cpu, wall));
    }

    private static Task<(double Rate, long Errors, double Cpu)> LoadAsync(ChildServer server, Provisioning p, int window, int warmup, int seconds) =>
        LoadAsync<int>(server, p, window, warmup, seconds);
}
