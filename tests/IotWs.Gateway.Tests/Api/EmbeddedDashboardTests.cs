using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Api;

/// <summary>
/// Issue 12 item 13: the dashboard is embedded in the assembly, so the output of a plain <c>dotnet build -o</c> (which
/// holds no wwwroot folder) serves it in Production, started from another working directory.
/// (The published gateway, as users run it, is tested in <see cref="PublishedGatewayTests"/>.)
/// </summary>
[Collection(GatewayObjFolder.Name)]
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

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static async Task<(int Code, string Log)> RunAsync(string file, string[] args, string cwd, TimeSpan timeout)
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
