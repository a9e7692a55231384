using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace IotWs.LoadTest;

/// <summary>
/// A server under test run as a child process on 127.0.0.1 (the gateway, or the bare baseline), so its CPU time
/// and memory can be read from /proc/&lt;pid&gt; apart from the load generator's.
/// </summary>
internal sealed partial class ChildServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];

    private ChildServer(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }
    public Uri WsUri { get; private set; } = null!;
    public Uri HttpUri { get; private set; } = null!;
    public int Pid => _process.Id;

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

    /// <summary>Starts `dotnet &lt;dll&gt; args…` and waits until it listens.</summary>
    public static async Task<ChildServer> StartAsync(string name, string dll, IEnumerable<string> args, string gc)
    {
        // A dll runs on the dotnet host; an executable (a self-contained publish, as the Pi runs it) runs by itself.
        var direct = !dll.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
        var info = new ProcessStartInfo(direct ? dll : DotnetHost(), [.. direct ? Array.Empty<string>() : [dll], .. args, "--urls", "http://127.0.0.1:0"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // "project": the runtimeconfig of the dll decides (what a user runs).
        if (gc != "project") info.Environment["DOTNET_gcServer"] = gc == "server" ? "1" : "0";
        // Runtime knobs for experiments, e.g. IOTWS_CHILD_ENV="DOTNET_GCgen0size=0x400000;DOTNET_GCConserveMemory=5".
        foreach (var pair in (Environment.GetEnvironmentVariable("IOTWS_CHILD_ENV") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            info.Environment[kv[0]] = kv.Length > 1 ? kv[1] : "";
        }
        // For profiling with perf (symbols of JIT-compiled code in /tmp/perf-<pid>.map).
        if (Environment.GetEnvironmentVariable("IOTWS_PERF_MAP") == "1")
        {
            info.Environment["DOTNET_PerfMapEnabled"] = "1";
            info.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + dll);
        var child = new ChildServer(process, name);
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (child._lines) child._lines.Add(e.Data);
            if (Listening().Match(e.Data) is { Success: true } m) address.TrySetResult(m.Groups[1].Value);
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (child._lines) child._lines.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var url = await address.Task.WaitAsync(TimeSpan.FromSeconds(60));
            child.HttpUri = new Uri(url);
            child.WsUri = new Uri(url.Replace("http://", "ws://", StringComparison.Ordinal) + "/ws");
            return child;
        }
        catch (TimeoutException)
        {
            process.Kill(true);
            throw new InvalidOperationException($"{name} did not start:\n" + child.Output);
        }
    }

    public string Output { get { lock (_lines) return string.Join('\n', _lines.TakeLast(40)); } }

    /// <summary>User+system CPU time of the process so far.</summary>
    public TimeSpan CpuTime => ProcStat.CpuTime(Pid);

    /// <summary>Resident memory now (VmRSS) and at its peak (VmHWM), in bytes.</summary>
    public long Rss => ProcStat.Status(Pid, "VmRSS:");
    public long PeakRss => ProcStat.Status(Pid, "VmHWM:");

    /// <summary>Bytes the process handed to write(2) so far (wchar) and bytes it caused to reach the block device (write_bytes).</summary>
    public (long Written, long ToDisk) WrittenBytes => (ProcStat.Io(Pid, "wchar:"), ProcStat.Io(Pid, "write_bytes:"));

    /// <summary>SIGTERM, then waits for a graceful exit (the gateway drains its queue).</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited) return;
        _ = SendSignal(_process.Id, 15);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
    }

    private static string DotnetHost() =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
}

/// <summary>Readings of /proc for a process: CPU ticks and memory lines.</summary>
internal static class ProcStat
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux (getconf CLK_TCK)

    public static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // Fields after the command name (which may hold spaces) start after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds((utime + stime) / TicksPerSecond);
    }

    /// <summary>CPU time of a process and of its children now running (PostgreSQL: the postmaster and its backends).</summary>
    public static TimeSpan TreeCpuTime(int pid)
    {
        var total = CpuTime(pid);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var child) || child == pid) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var ppid = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
                if (ppid == pid) total += CpuTime(child);
            }
            catch (IOException)
            {
                // The process ended while being read.
            }
        }
        return total;
    }

    public static long Io(int pid, string key)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/io"))
        {
            if (line.StartsWith(key, StringComparison.Ordinal)) return long.Parse(line[key.Length..].Trim(), CultureInfo.InvariantCulture);
        }
        return 0;
    }

    /// <summary>
    /// Resident memory by kind, from /proc/&lt;pid&gt;/smaps: anonymous (GC heap, native heaps, stacks), the W^X JIT
    /// code mapping (/memfd:doublemapper), managed assemblies (.dll) and native libraries (.so), in bytes.
    /// </summary>
    public static string SmapsSummary(int pid, int top = 8)
    {
        var kinds = new Dictionary<string, long>(StringComparer.Ordinal);
        var files = new Dictionary<string, long>(StringComparer.Ordinal);
        var kind = "anon";
        var file = "";
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            var space = line.IndexOf(' ');
            if (space > 0 && line[space - 1] != ':')
            {
                var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                var path = parts.Length >= 6 ? parts[5].Trim() : "";
                file = Path.GetFileName(path);
                kind = path switch
                {
                    "" or "[heap]" or "[stack]" or "[anon]" => "anon",
                    _ when path.Contains("doublemapper", StringComparison.Ordinal) => "jit",
                    _ when path.EndsWith(".dll", StringComparison.Ordinal) => "dll",
                    _ when path.Contains(".so", StringComparison.Ordinal) => "so",
                    _ when path.StartsWith('[') => "anon",
                    _ => "other",
                };
            }
            else if (line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                var kb = long.Parse(line[4..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                kinds[kind] = kinds.GetValueOrDefault(kind) + kb * 1024;
                if (kind is "dll" or "so") files[file] = files.GetValueOrDefault(file) + kb * 1024;
            }
        }
        return string.Join(", ", kinds.OrderByDescending(k => k.Value).Select(k => $"{k.Key} {k.Value / 1048576.0:0.0} MB"))
            + $" (largest files: {string.Join(", ", files.OrderByDescending(f => f.Value).Take(top).Select(f => $"{f.Key} {f.Value / 1048576.0:0.0}"))})";
    }

    public static long Status(int pid, string key)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }
}
