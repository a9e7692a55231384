using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Api;

/// <summary>
/// Issue 12 item 13: the dashboard is embedded in the assembly, so the output of a plain <c>dotnet build -o</c> (which
/// holds no wwwroot folder) serves it in Production, started from another working directory.
/// Issue 16 item 5: what users run — the gateway published with the README's own command and started the way the
/// systemd unit starts it. (The tests of one class run one after the other: both write the gateway's obj folder.)
/// </summary>
public sealed partial class EmbeddedDashboardTests
{
    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    [Fact]
    public async Task A_gateway_built_to_another_folder_serves_the_dashboard_outside_development()
    {
        var root = Path.Combine(Path.GetTempPath(), "iotws-build-" + Guid.NewGuid().ToString("N")[..8]);
        var output = Path.Combine(root, "out");
        var elsewhere = Directory.CreateDirectory(Path.Combine(root, "cwd")).FullName;
        var dataDir = Directory.CreateDirectory(Path.Combine(root, "data")).FullName;
        try
        {
            var config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var project = Path.Combine(RepoPaths.Root, "gateway", "IotWs.Gateway", "IotWs.Gateway.csproj");
            // Up to date already (the tests were built with it): this compiles nothing and only copies the output.
            var (code, log) = await RunAsync("dotnet", ["build", project, "-c", config, "-o", output, "--no-restore", "-nodeReuse:false", "-p:UseSharedCompilation=false", "-v:q", "-nologo"], RepoPaths.Root, TimeSpan.FromMinutes(5));
            Assert.True(code == 0, log);
            Assert.False(Directory.Exists(Path.Combine(output, "wwwroot")), "a plain build has no wwwroot folder; the files must come from the assembly");

            var info = new ProcessStartInfo("dotnet", [Path.Combine(output, "IotWs.Gateway.dll"), "--urls", "http://127.0.0.1:0", "--data-dir", dataDir])
            {
                WorkingDirectory = elsewhere,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
            info.Environment["DOTNET_ENVIRONMENT"] = "Production";
            using var gateway = Process.Start(info)!;
            try
            {
                var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                var lines = new List<string>();
                gateway.OutputDataReceived += (_, e) =>
                {
                    if (e.Data is null) return;
                    lock (lines) lines.Add(e.Data);
                    if (Listening().Match(e.Data) is { Success: true } m) address.TrySetResult(m.Groups[1].Value);
                };
                gateway.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
                gateway.BeginOutputReadLine();
                gateway.BeginErrorReadLine();
                var url = await address.Task.WaitAsync(TimeSpan.FromSeconds(60));

                using var http = new HttpClient { BaseAddress = new Uri(url) };
                using var page = await http.GetAsync("/");
                Assert.Equal(HttpStatusCode.OK, page.StatusCode);
                Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
                Assert.Contains("<script type=\"module\" src=\"app.js\"></script>", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                foreach (var file in new[] { "app.js", "app.css", "js/live.js", "favicon.svg" })
                {
                    using var response = await http.GetAsync(file);
                    Assert.True(response.StatusCode == HttpStatusCode.OK, file);
                    Assert.NotNull(response.Headers.ETag);
                }
                lock (lines) Assert.DoesNotContain(lines, l => l.Contains("without its dashboard files", StringComparison.Ordinal));
            }
            finally
            {
                gateway.Kill(entireProcessTree: true);
                await gateway.WaitForExitAsync();
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Fact]
    public async Task The_documented_publish_runs_as_the_systemd_unit_starts_it_and_serves_health_and_the_dashboard()
    {
        // The command the README and the Pi setup give (the same line in both), for this machine's architecture:
        // a linux-arm64 binary cannot run on an x64 test machine.
        var commands = new[] { "README.md", Path.Combine("hardware", "README.md") }
            .SelectMany(doc => File.ReadLines(Path.Combine(RepoPaths.Root, doc)).Select(l => l.Trim()).Where(l => l.StartsWith("dotnet publish gateway/IotWs.Gateway", StringComparison.Ordinal)))
            .Distinct().ToList();
        var command = Assert.Single(commands);
        Assert.Contains("-r linux-arm64", command, StringComparison.Ordinal);
        var rid = "linux-" + RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();
        var root = Path.Combine(Path.GetTempPath(), "iotws-publish-" + Guid.NewGuid().ToString("N")[..8]);
        var output = Path.Combine(root, "gateway");
        var dataDir = Directory.CreateDirectory(Path.Combine(root, "data")).FullName;
        try
        {
            var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            words[words.IndexOf("-o") + 1] = output;
            words[words.IndexOf("-r") + 1] = rid;
            var (code, log) = await RunAsync(words[0], [.. words.Skip(1), "-nodeReuse:false", "-p:UseSharedCompilation=false", "-v:q", "-nologo"], RepoPaths.Root, TimeSpan.FromMinutes(15));
            Assert.True(code == 0, log);

            // Self-contained (the Pi needs no .NET), ReadyToRun (start-up), and the GC settings chosen in docs/performance.md.
            Assert.True(File.Exists(Path.Combine(output, "libcoreclr.so")), "the publish is not self-contained");
            using (var pe = new PEReader(File.OpenRead(Path.Combine(output, "IotWs.Gateway.dll"))))
            {
                Assert.True(pe.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size > 0, "IotWs.Gateway.dll is not ReadyToRun");
            }
            var runtime = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "IotWs.Gateway.runtimeconfig.json"))).RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
            Assert.False(runtime.GetProperty("System.GC.Server").GetBoolean());
            Assert.True(runtime.GetProperty("System.GC.Concurrent").GetBoolean());
            Assert.Equal(5, runtime.GetProperty("System.GC.ConserveMemory").GetInt32());
            Assert.Equal(4 << 20, runtime.GetProperty("System.GC.Gen0MaxBudget").GetInt32());

            // Started as the unit starts it: its ExecStart arguments, with a loopback port and a temporary data directory.
            var execStart = File.ReadLines(Path.Combine(RepoPaths.Root, "hardware", "iotws-gateway.service")).Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal));
            var port = FreePort();
            var args = execStart["ExecStart=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(a => a.Replace("http://0.0.0.0:5080", $"http://127.0.0.1:{port}", StringComparison.Ordinal).Replace("/var/lib/iotws", dataDir, StringComparison.Ordinal))
                .ToList();
            Assert.Contains($"http://127.0.0.1:{port}", args);
            var info = new ProcessStartInfo(Path.Combine(output, "IotWs.Gateway"), args)
            {
                WorkingDirectory = dataDir,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            info.Environment["DOTNET_ENVIRONMENT"] = "Production";
            info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
            // The apphost of a self-contained publish must not fall back to an installed runtime.
            info.Environment.Remove("DOTNET_ROOT");
            using var gateway = Process.Start(info)!;
            var lines = new List<string>();
            gateway.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
            gateway.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
            gateway.BeginOutputReadLine();
            gateway.BeginErrorReadLine();
            try
            {
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
                var deadline = Stopwatch.StartNew();
                HttpResponseMessage? health = null;
                while (health is null)
                {
                    Assert.False(gateway.HasExited, "the published gateway exited: " + string.Join('\n', lines));
                    Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(90), "no /healthz: " + string.Join('\n', lines));
                    try { health = await http.GetAsync("/healthz"); }
                    catch (HttpRequestException) { await Task.Delay(100); }
                }
                using (health)
                {
                    Assert.Equal(HttpStatusCode.OK, health.StatusCode);
                }
                using var page = await http.GetAsync("/");
                Assert.Equal(HttpStatusCode.OK, page.StatusCode);
                Assert.Contains("<script type=\"module\" src=\"app.js\"></script>", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                using var script = await http.GetAsync("app.js");
                Assert.Equal(HttpStatusCode.OK, script.StatusCode);
                Assert.True(File.Exists(Path.Combine(dataDir, "iotws.db")), "the unit's --data-dir was not used");
            }
            finally
            {
                gateway.Kill(entireProcessTree: true);
                await gateway.WaitForExitAsync();
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(int Code, string Log)> RunAsync(string file, string[] args, string cwd, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file, args) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} took longer than {timeout}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
