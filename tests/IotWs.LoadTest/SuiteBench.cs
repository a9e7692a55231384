using System.Globalization;
using System.Text;

namespace IotWs.LoadTest;

/// <summary>
/// suite: the figures of issue 16 in ONE run, each gateway figure next to a baseline measured minutes before it:
/// ingest shapes against the bare-Kestrel echo (ratio), a window-1 client on an idle gateway, a paced load, SD-card
/// bytes per reading at a steady trickle, device → dashboard latency, and fan-out against Mosquitto. With
/// --before &lt;dir&gt; an earlier gateway build is measured in the same run, next to the current one.
/// Ends with a summary table (markdown), each row with the load average it was measured at.
/// </summary>
internal static class SuiteBench
{
    public static async Task<int> RunAsync(BenchOptions o)
    {
        var seconds = o.Int("seconds", 10);
        var warmup = o.Int("warmup", 3);
        var shapes = o.String("shapes", "100x8,1000x4,1000x32").Split(',').Select(s => s.Split('x')).Select(p => (N: int.Parse(p[0], CultureInfo.InvariantCulture), W: int.Parse(p[1], CultureInfo.InvariantCulture))).ToArray();
        var skip = o.String("skip", "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var before = o.String("before", "");
        var interval = CommitIntervalMs(o);
        var pacedRate = o.Double("paced-rate", 2000);
        var trickle = o.Double("trickle", 50);
        var trickleDevices = o.Ints("trickle-devices", [100, 10]);
        var started = DateTimeOffset.UtcNow;
        Console.WriteLine($"suite: {warmup} s warm-up + {seconds} s per phase, gateway gc {o.String("gc", "project")}, settings '{o.String("set", "")}', CommitInterval {interval} ms{(before.Length > 0 ? ", before = " + before : "")}");
        Console.WriteLine(BenchTarget.Machine());
        Console.WriteLine($"command: dotnet IotWs.LoadTest.dll suite {string.Join(' ', Environment.GetCommandLineArgs().Skip(2))}");
        var rows = new List<string[]>();
        var gateways = before.Length > 0 ? new[] { ("before", BenchTarget.GatewayDllAt(before)), ("gateway", (string?)null) } : [("gateway", (string?)null)];
        var o1 = o.With(("no-baseline", "true"));

        if (!skip.Contains("shapes"))
        {
            Section("ingest shapes: as fast as acks allow, baseline then gateway, same messages");
            foreach (var (n, w) in shapes)
            {
                var baseline = await IngestBench.RunOneAsync("baseline", n, w, 0, seconds, warmup, o);
                IngestBench.Print(baseline, null);
                rows.Add([$"{n:N0} × window {w}", "baseline", $"{baseline.Rate:N0}/s", "", Ms(baseline), Mb(baseline.RssBytes), $"{PerCpu(baseline):N0} per CPU-s", baseline.Load]);
                foreach (var (kind, dll) in gateways)
                {
                    var g = await IngestBench.RunOneAsync(kind, n, w, 0, seconds, warmup, o, dll);
                    IngestBench.Print(g, baseline);
                    rows.Add([$"{n:N0} × window {w}", kind, $"{g.Rate:N0}/s", $"**{g.Rate / baseline.Rate:0.00}×**", Ms(g), Mb(g.RssAfter),
                        $"{PerCpu(g):N0} per CPU-s ({PerCpu(g) / PerCpu(baseline):0.00}×); " + Durability(g), g.Load]);
                }
            }
        }

        if (!skip.Contains("window1"))
        {
            Section("window 1 on an idle gateway: one device, each reading sent when the previous one is acked");
            foreach (var (kind, dll) in gateways)
            {
                var g = await IngestBench.RunOneAsync(kind, 1, 1, 0, seconds, warmup, o1, dll);
                IngestBench.Print(g, null);
                rows.Add(["1 × window 1 (idle)", kind, $"{g.Rate:N0}/s", "", Ms(g), Mb(g.RssAfter), double.IsNaN(g.MeanCommitMs) || g.MeanCommitMs == 0 ? "" : $"mean commit {g.MeanCommitMs:0.00} ms; p99 − commit = {g.Latency.P99 - g.MeanCommitMs:0.0} ms", g.Load]);
            }
        }

        if (!skip.Contains("paced"))
        {
            Section($"paced: 1,000 devices, {pacedRate:N0} readings/s in total, window 32");
            var paced = o1.With(("rate", pacedRate.ToString(CultureInfo.InvariantCulture)));
            foreach (var (kind, dll) in gateways)
            {
                var g = await IngestBench.RunOneAsync(kind, 1000, 32, pacedRate, seconds, warmup, paced, dll);
                IngestBench.Print(g, null);
                rows.Add([$"1,000 paced {pacedRate:N0}/s", kind, $"{g.Rate:N0}/s", "", Ms(g), Mb(g.RssAfter), $"p99 target ≤ {interval + 20} ms: {(g.Latency.P99 <= interval + 20 ? "met" : "MISSED")}", g.Load]);
            }
        }

        if (!skip.Contains("trickle"))
        {
            foreach (var n in trickleDevices)
            {
                Section($"trickle: {n} devices, {trickle:N0} readings/s in total ({trickle / n:0.##}/s each), SD-card bytes per reading (write_bytes)");
                var paced = o1.With(("rate", trickle.ToString(CultureInfo.InvariantCulture)));
                foreach (var (kind, dll) in gateways)
                {
                    var g = await IngestBench.RunOneAsync(kind, n, 32, trickle, Math.Max(seconds, 10), warmup, paced, dll);
                    IngestBench.Print(g, null);
                    rows.Add([$"{n} devices, {trickle:N0}/s in total", kind, $"{g.Rate:N0}/s", "", Ms(g), Mb(g.RssAfter),
                        $"**{g.DiskBytesPerReading / 1024:0.00} KB written per reading**, {g.CommitsPerSecond:0.0} commits/s", g.Load]);
                }
            }
        }

        if (!skip.Contains("dashboard"))
        {
            Section("device → dashboard: 1,000 devices at 1 reading/s, 10 dashboards on sensor_updates");
            var f = await FanoutBench.MeasureAsync(o.With(("devices", "1000"), ("dashboards", "10"), ("seconds", seconds.ToString(CultureInfo.InvariantCulture)), ("warmup", warmup.ToString(CultureInfo.InvariantCulture))));
            rows.Add(["1,000 × 1/s → 10 dashboards", "gateway", $"{f.Stored / (double)(seconds + warmup + 2):N0}/s", "",
                $"delivery p50 {f.DeliveryP50:0.0} / p99 **{f.DeliveryP99:0.0}** ms; ack p99 {f.AckP99:0.0} ms", Mb(f.Rss),
                $"**{f.Drops} drops**, {f.Errors} errors; p99 target ≤ {interval + 20} ms: {(f.DeliveryP99 <= interval + 20 ? "met" : "MISSED")}", f.Load]);
        }

        if (!skip.Contains("mqtt"))
        {
            Section("fan-out against Mosquitto: 1,000 publishers, 10 wildcard subscribers, ramped");
            var m = await BrokerFanoutBench.MeasureAsync(o);
            BrokerFanoutBench.PrintSummary(m);
            foreach (var (name, best) in new[] { ("Mosquitto (QoS 0, nothing stored)", m.BestMosquitto), ("gateway (every reading stored)", m.BestGateway) })
            {
                rows.Add(["1,000 pub → 10 subs on devices/+/readings", name, best is null ? "none passed" : $"{best.Published:N0}/s",
                    name.StartsWith("gateway", StringComparison.Ordinal) && m.BestMosquitto is { } mb && best is not null ? $"**{best.Published / mb.Published:0.00}×** Mosquitto" : "",
                    best is null ? "" : $"delivery p50 {best.P50:0.0} / p99 {best.P99:0.0} ms", "", best is null ? "" : $"server CPU {best.ServerCpu:0}%", best?.Load ?? ""]);
            }
        }

        Section($"summary (started {started:yyyy-MM-dd HH:mm} UTC, ended {DateTimeOffset.UtcNow:HH:mm} UTC)");
        var table = new StringBuilder();
        table.AppendLine("| load | server | readings/s | ratio | ack latency p50 / p95 / p99 | RSS | notes | load average |");
        table.AppendLine("| --- | --- | ---: | ---: | --- | ---: | --- | --- |");
        foreach (var r in rows) table.AppendLine("| " + string.Join(" | ", r) + " |");
        Console.Write(table);
        return 0;
    }

    internal static void Section(string title) => Console.WriteLine($"\n== {title} [load {BenchTarget.LoadAverage()}]");

    internal static string Ms(IngestBench.Result r) => $"{r.Latency.P50:0.0} / {r.P95:0.0} / {r.Latency.P99:0.0} ms";

    /// <summary>
    /// Readings per second of the server's own CPU time: on a shared machine a server gets whatever CPU is left, so
    /// this second ratio says how much work each reading costs, apart from how much CPU the server happened to get.
    /// </summary>
    internal static double PerCpu(IngestBench.Result r) => r.ServerCpu <= 0 ? double.NaN : r.Rate / (r.ServerCpu / 100);

    internal static string Mb(long bytes) => bytes == 0 ? "" : $"{bytes / 1048576.0:0} MB";

    internal static string Durability(IngestBench.Result r) =>
        (r.Durable && r.Errors == 0 ? "every ack in the file" : $"**{r.Errors} errors{(r.Durable ? "" : ", MISSING ROWS")}**")
        + (double.IsNaN(r.CommitsPerSecond) ? "" : $"; {r.CommitsPerSecond:0} commits/s")
        + (double.IsNaN(r.MeanCommitMs) || r.MeanCommitMs == 0 ? "" : $", mean {r.MeanCommitMs:0.0} ms");

    /// <summary>Storage:CommitInterval in ms as passed with --set, else the gateway's default (250 ms).</summary>
    internal static double CommitIntervalMs(BenchOptions o)
    {
        foreach (var s in o.String("set", "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = s.Split('=', 2);
            if (kv[0] == "Storage:CommitInterval" && TimeSpan.TryParse(kv[1], CultureInfo.InvariantCulture, out var t)) return t.TotalMilliseconds;
        }
        return 250;
    }
}
