using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;

namespace IotWs.LoadTest;

/// <summary>Starts the gateway (or the baseline) as a child on a provisioned temp data directory, with benchmark settings.</summary>
internal static class BenchTarget
{
    public static string GatewayDll => Path.Combine(AppContext.BaseDirectory, "IotWs.Gateway.dll");

    /// <summary>
    /// Settings every benchmark gives the gateway: the per-connection rate limit raised (its default, 50 messages/s,
    /// would cap 100 devices at 5,000 readings/s, which measures the limiter, not the pipeline), room for the connections,
    /// plus anything passed with --set Key=Value,… (e.g. --set Storage:CommitInterval=00:00:00.100).
    /// </summary>
    public static Task<ChildServer> StartGatewayAsync(Provisioning p, BenchOptions o, string? dll = null, params string[] extra) =>
        StartGatewayAsync(p.DataDir, "gateway", o, dll, extra);

    /// <summary>A gateway on its own data directory (one of several nodes on a shared database), named for its messages.</summary>
    public static Task<ChildServer> StartGatewayAsync(string dataDir, string name, BenchOptions o, string? dll, params string[] extra)
    {
        var args = new List<string>
        {
            "--data-dir", dataDir,
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
            "--Gateway:RateLimit:MessagesPerSecond=1000000",
            "--Gateway:RateLimit:Burst=1000000",
            "--Gateway:MaxConnections=20000",
        };
        args.AddRange(extra.Select(s => "--Gateway:" + s));
        foreach (var s in o.String("set", "").Split(',', StringSplitOptions.RemoveEmptyEntries)) args.Add("--Gateway:" + s);
        // --gateway <dir or dll>: measure another build as "gateway" (e.g. two earlier builds against each other with --before).
        var current = o.String("gateway", "") is { Length: > 0 } other ? GatewayDllAt(other) : GatewayDll;
        return ChildServer.StartAsync(name, dll ?? current, args, o.String("gc", "project"));
    }

    public static Task<ChildServer> StartBaselineAsync(BenchOptions o) =>
        ChildServer.StartAsync("baseline", typeof(BenchTarget).Assembly.Location, ["baseline-server"], o.String("gc", "server"));

    /// <summary>GET /api/status of the gateway (its "readings" section has commit counters).</summary>
    public static async Task<JsonElement?> StatusAsync(ChildServer server, string key)
    {
        using var http = new HttpClient { BaseAddress = server.HttpUri, Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        try
        {
            return JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.Clone();
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>
    /// IotWs.Gateway.dll of another build: a directory holding it, or the dll itself. A self-contained publish (the
    /// directory holds the runtime) or a Native AOT one (an executable and no dll) is started through its own
    /// executable, as systemd starts it on the Pi.
    /// </summary>
    public static string GatewayDllAt(string path) =>
        !Directory.Exists(path) ? path
        : File.Exists(Path.Combine(path, "IotWs.Gateway"))
            && (File.Exists(Path.Combine(path, "libcoreclr.so")) || !File.Exists(Path.Combine(path, "IotWs.Gateway.dll"))) ? Path.Combine(path, "IotWs.Gateway")
        : Path.Combine(path, "IotWs.Gateway.dll");

    /// <summary>The machine's 1, 5 and 15-minute load averages now (printed with every figure: the machine is shared).</summary>
    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ')[..3]);

    public static string Machine()
    {
        var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        var memory = File.ReadLines("/proc/meminfo").First().Split(':', 2)[1].Trim();
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[..3];
        return $"{Environment.ProcessorCount} cores ({model}), {memory} RAM, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, load average {string.Join(' ', load)}";
    }

    public static double CpuPercent(TimeSpan cpu, TimeSpan wall) => 100.0 * cpu.TotalSeconds / wall.TotalSeconds;

    public static TimeSpan SelfCpu() => ProcStat.CpuTime(Environment.ProcessId);

    public static long Ticks() => Stopwatch.GetTimestamp();

    public static long Micros(long fromTicks, long toTicks) => (toTicks - fromTicks) * 1_000_000 / Stopwatch.Frequency;
}
