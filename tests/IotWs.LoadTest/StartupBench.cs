using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace IotWs.LoadTest;

/// <summary>
/// startup: for each gateway build given (a published executable, or a dll run with `dotnet`), the time from process
/// start to the first 200 from /healthz, the idle RSS a while later, and whether / (the dashboard) answers. The builds
/// take turns (A B C A B C …) so a busy minute on the shared machine hits them all; the first one is the baseline of the ratios.
/// A build may carry runtime settings for the experiment: <c>path|DOTNET_TieredPGO=0;DOTNET_gcServer=0</c>.
/// <c>--runner qemu-aarch64-static</c> starts linux-arm64 builds under user-mode emulation (times then say little about a
/// Pi, only how the builds compare; the RSS is qemu's).
/// </summary>
internal static class StartupBench
{
    public static async Task<int> RunAsync(BenchOptions o)
    {
        var builds = o.String("builds", BenchTarget.GatewayDll).Split(',', StringSplitOptions.RemoveEmptyEntries);
        var runs = o.Int("runs", 5);
        var settle = o.Int("settle", 10);
        Console.WriteLine($"startup: {runs} runs of {builds.Length} builds, RSS read {settle} s after /healthz");
        Console.WriteLine(BenchTarget.Machine());
        var times = builds.ToDictionary(b => b, _ => new List<double>());
        var rss = builds.ToDictionary(b => b, _ => new List<double>());
        var failures = 0;
        for (var run = 0; run < runs; run++)
        {
            foreach (var build in builds)
            {
                var (ms, bytes, dashboard, load) = await OnceAsync(build, settle, o.String("runner", ""), TimeSpan.FromSeconds(o.Int("timeout", 60)));
                times[build].Add(ms);
                rss[build].Add(bytes / 1048576.0);
                if (!dashboard) failures++;
                Console.WriteLine($"  [load {load}] {Name(build),-40} /healthz after {ms,7:0} ms, idle RSS {bytes / 1048576.0,6:0.0} MB, dashboard {(dashboard ? "200" : "FAILED")}");
            }
        }
        Console.WriteLine();
        Console.WriteLine("| build | size on disk | time to /healthz (median) | ratio | idle RSS (median) | ratio |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        var t0 = Median(times[builds[0]]);
        var r0 = Median(rss[builds[0]]);
        foreach (var build in builds)
        {
            var t = Median(times[build]);
            var r = Median(rss[build]);
            Console.WriteLine($"| {Name(build)} | {SizeMb(build):0.0} MB | {t:0} ms | {t / t0:0.00}x | {r:0.0} MB | {r / r0:0.00}x |");
        }
        return failures == 0 ? 0 : 1;
    }

    private static string Name(string build) => Path.GetFileName(Path.GetDirectoryName(Exe(build))) + "/" + Path.GetFileName(build);

    private static string Exe(string build) => build.Split('|')[0];

    /// <summary>What the build's folder holds (a published output is the folder).</summary>
    private static double SizeMb(string build) =>
        new DirectoryInfo(Path.GetDirectoryName(Path.GetFullPath(Exe(build)))!).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) / 1048576.0;

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    private static async Task<(double Ms, long Rss, bool Dashboard, string Load)> OnceAsync(string build, int settle, string runner, TimeSpan timeout)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "iotws-startup-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dataDir);
        var port = FreePort();
        var args = new List<string> { "--urls", $"http://127.0.0.1:{port}", "--data-dir", dataDir, "--Logging:LogLevel:Default=Warning" };
        var exe = Exe(build);
        var dll = exe.EndsWith(".dll", StringComparison.Ordinal);
        List<string> argv = dll || runner.Length > 0 ? [exe, .. args] : args;
        var info = new ProcessStartInfo(dll ? "dotnet" : runner.Length > 0 ? runner : exe, argv)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dataDir,
        };
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var pair in build.Split('|').Skip(1).SelectMany(e => e.Split(';', StringSplitOptions.RemoveEmptyEntries)))
        {
            var kv = pair.Split('=', 2);
            info.Environment[kv[0]] = kv[1];
        }
        var load = BenchTarget.LoadAverage();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(2) };
        var sw = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + build);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            double ms;
            while (true)
            {
                if (process.HasExited) throw new InvalidOperationException($"{build} exited with {process.ExitCode} before /healthz answered");
                if (sw.Elapsed > timeout) throw new TimeoutException($"{build}: no /healthz after {timeout.TotalSeconds} s");
                try
                {
                    using var response = await http.GetAsync("/healthz");
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        ms = sw.Elapsed.TotalMilliseconds;
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }
                await Task.Delay(5);
            }
            await Task.Delay(TimeSpan.FromSeconds(settle));
            var rss = ProcStat.Status(process.Id, "VmRSS:");
            using var page = await http.GetAsync("/");
            var dashboard = page.StatusCode == HttpStatusCode.OK && (await page.Content.ReadAsStringAsync()).Contains("app.js", StringComparison.Ordinal);
            return (ms, rss, dashboard, load);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            try { Directory.Delete(dataDir, true); } catch (IOException) { }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
