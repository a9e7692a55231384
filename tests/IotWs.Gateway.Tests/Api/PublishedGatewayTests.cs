using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Api;

/// <summary>
/// The gateway as users run it (issue 16 item 5): published once per class with a command from the README, for this
/// machine's architecture (a linux-arm64 binary cannot run on an x64 test machine), into its own artifacts folder (so
/// two publishes never share intermediate files, nor with the developer's obj folder). Both publishes are trimmed,
/// so everything the trimmer could have cut (JSON, configuration binding, options validation, the CLI, the MQTT
/// broker) is used through the published executable, not through the test build.
/// </summary>
public abstract class GatewayPublish : IAsyncLifetime
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "iotws-publish-" + Guid.NewGuid().ToString("N")[..8]);
    public string Output => Path.Combine(Root, "gateway");
    public string Executable => Path.Combine(Output, "IotWs.Gateway");
    public string Command { get; private set; } = "";

    /// <summary>Which of the README's publish lines this is.</summary>
    protected abstract bool IsMine(string command);

    /// <summary>Null when this machine can make the publish; otherwise why not (the test is skipped, or fails under CI).</summary>
    public virtual string? Unavailable => null;

    public async Task InitializeAsync()
    {
        var commands = new[] { "README.md", Path.Combine("hardware", "README.md") }
            .SelectMany(doc => File.ReadLines(Path.Combine(RepoPaths.Root, doc)).Select(l => l.Trim()).Where(l => l.StartsWith("dotnet publish gateway/IotWs.Gateway", StringComparison.Ordinal)))
            .Where(IsMine).Distinct().ToList();
        Command = Assert.Single(commands);
        Assert.Contains("-r linux-arm64", Command, StringComparison.Ordinal);
        if (Unavailable is not null) return;
        var words = Command.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        words[words.IndexOf("-o") + 1] = Output;
        words[words.IndexOf("-r") + 1] = "linux-" + RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();
        var (code, log) = await EmbeddedDashboardTests.RunAsync(words[0],
            [.. words.Skip(1), "--artifacts-path", Path.Combine(Root, "artifacts"), "-nodeReuse:false", "-p:UseSharedCompilation=false", "-v:q", "-nologo"],
            RepoPaths.Root, TimeSpan.FromMinutes(15));
        Assert.True(code == 0, log);
    }

    /// <summary>A fresh data directory under the publish's temporary folder.</summary>
    public string NewDataDir() => Directory.CreateDirectory(Path.Combine(Root, "data-" + Guid.NewGuid().ToString("N")[..6])).FullName;

    /// <summary>One CLI verb of the published executable, run to its exit.</summary>
    public async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var info = Start(args);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    public ProcessStartInfo Start(IEnumerable<string> args, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(Executable, args)
        {
            WorkingDirectory = workingDirectory ?? Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        // The apphost of a self-contained publish must not fall back to an installed runtime.
        info.Environment.Remove("DOTNET_ROOT");
        return info;
    }

    public Task DisposeAsync()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return Task.CompletedTask;
    }
}

/// <summary>The README's publish (the one the Pi setup gives too): self-contained, ReadyToRun, trimmed.</summary>
public sealed class DocumentedPublish : GatewayPublish
{
    protected override bool IsMine(string command) => !command.Contains("PublishAot", StringComparison.Ordinal);
}

/// <summary>The README's Native AOT publish: one native executable, linked with clang.</summary>
public sealed class NativeAotPublish : GatewayPublish
{
    protected override bool IsMine(string command) => command.Contains("-p:PublishAot=true", StringComparison.Ordinal);

    public override string? Unavailable => NativeAotFactAttribute.Missing;
}

/// <summary>Skipped where clang (the Native AOT linker) is not installed, unless CI=true, where that is a failure.</summary>
public sealed class NativeAotFactAttribute : FactAttribute
{
    public static string? Missing =>
        new[] { "/usr/bin/clang", "/usr/local/bin/clang" }.Any(File.Exists) || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? null
            : "clang is not installed (apt-get install -y clang): the Native AOT publish needs it; with CI=true this test fails instead.";

    public NativeAotFactAttribute()
    {
        // The scenario also needs Mosquitto's clients.
        Skip = Missing ?? new MosquittoFactAttribute(needsClients: true).Skip;
    }
}

/// <summary>A published gateway process, its output kept for the failure message.</summary>
internal sealed class PublishedProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];

    private PublishedProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_lines) _lines.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_lines) _lines.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Output { get { lock (_lines) return string.Join('\n', _lines); } }

    /// <summary>Starts it and waits for /healthz on the given loopback port.</summary>
    public static async Task<PublishedProcess> StartAsync(ProcessStartInfo info, int port)
    {
        var gateway = new PublishedProcess(Process.Start(info)!);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(gateway._process.HasExited, "the published gateway exited: " + gateway.Output);
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(90), "no /healthz: " + gateway.Output);
            try
            {
                using var health = await http.GetAsync("/healthz");
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);
                return gateway;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}

[Collection(GatewayObjFolder.Name)]
public sealed class PublishedGatewayTests(DocumentedPublish publish) : IClassFixture<DocumentedPublish>
{
    [Fact]
    public async Task The_documented_publish_runs_as_the_systemd_unit_starts_it_and_serves_health_and_the_dashboard()
    {
        // Self-contained (the Pi needs no .NET), ReadyToRun (start-up), trimmed (size and memory), and the GC settings
        // chosen in docs/performance.md.
        Assert.True(File.Exists(Path.Combine(publish.Output, "libcoreclr.so")), "the publish is not self-contained");
        using (var pe = new PEReader(File.OpenRead(Path.Combine(publish.Output, "IotWs.Gateway.dll"))))
        {
            Assert.True(pe.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size > 0, "IotWs.Gateway.dll is not ReadyToRun");
        }
        var runtime = JsonDocument.Parse(File.ReadAllText(Path.Combine(publish.Output, "IotWs.Gateway.runtimeconfig.json"))).RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.False(runtime.GetProperty("System.GC.Server").GetBoolean());
        Assert.True(runtime.GetProperty("System.GC.Concurrent").GetBoolean());
        Assert.Equal(5, runtime.GetProperty("System.GC.ConserveMemory").GetInt32());
        Assert.Equal(4 << 20, runtime.GetProperty("System.GC.Gen0MaxBudget").GetInt32());
        Assert.False(runtime.GetProperty("System.Text.Json.JsonSerializer.IsReflectionEnabledByDefault").GetBoolean(), "the publish is not trimmed");

        // Started as the unit starts it: its ExecStart arguments, with a loopback port and a temporary data directory.
        var dataDir = publish.NewDataDir();
        var execStart = File.ReadLines(Path.Combine(RepoPaths.Root, "hardware", "iotws-gateway.service")).Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal));
        var port = EmbeddedDashboardTests.FreePort();
        var args = execStart["ExecStart=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(a => a.Replace("http://0.0.0.0:5080", $"http://127.0.0.1:{port}", StringComparison.Ordinal).Replace("/var/lib/iotws", dataDir, StringComparison.Ordinal))
            .ToList();
        Assert.Contains($"http://127.0.0.1:{port}", args);
        await using var gateway = await PublishedProcess.StartAsync(publish.Start(args, dataDir), port);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        using var page = await http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<script type=\"module\" src=\"app.js\"></script>", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var script = await http.GetAsync("app.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.True(File.Exists(Path.Combine(dataDir, "iotws.db")), "the unit's --data-dir was not used");
    }

    [MosquittoFact(needsClients: true)]
    public Task The_published_gateway_provisions_stores_answers_calls_publishes_over_mqtt_and_explains_errors() =>
        PublishedScenario.RunAsync(publish);
}

[Collection(GatewayObjFolder.Name)]
public sealed class NativeAotPublishTests(NativeAotPublish publish) : IClassFixture<NativeAotPublish>
{
    [NativeAotFact]
    public async Task The_native_aot_publish_is_one_executable_that_does_everything_the_published_gateway_does()
    {
        Assert.False(File.Exists(Path.Combine(publish.Output, "IotWs.Gateway.dll")), "not Native AOT: the publish holds IL");
        Assert.False(File.Exists(Path.Combine(publish.Output, "libcoreclr.so")), "not Native AOT: the publish holds the runtime");
        Assert.False(File.Exists(Path.Combine(publish.Output, "IotWs.Gateway.dbg")), "the symbols file (twice the executable) would go to the Pi");
        await PublishedScenario.RunAsync(publish);
    }
}

/// <summary>A user's whole round through a published gateway, whichever way it was published.</summary>
internal static class PublishedScenario
{
    public static async Task RunAsync(GatewayPublish publish)
    {
        var dataDir = publish.NewDataDir();

        // Provisioning with the published CLI: each verb prints JSON, the list verbs one record per line.
        var device = await Verb(publish, "devices", "add", "esp-pub", "--name", "Attic", "--data-dir", dataDir);
        var token = device.GetProperty("token").GetString()!;
        Assert.Equal("esp-pub", device.GetProperty("deviceId").GetString());
        var technician = (await Verb(publish, "keys", "add", "field-tech", "--role", "technician", "--data-dir", dataDir)).GetProperty("key").GetString()!;
        var listed = await publish.RunAsync("devices", "list", "--data-dir", dataDir);
        Assert.True(listed.Code == 0, listed.Err);
        var row = JsonDocument.Parse(listed.Out.Trim()).RootElement;
        Assert.Equal(["deviceId", "name", "location", "createdAt", "revoked"], row.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Attic", row.GetProperty("name").GetString());

        var port = EmbeddedDashboardTests.FreePort();
        var mqttPort = MosquittoBroker.FreeLoopbackPort();
        string[] serve = ["--urls", $"http://127.0.0.1:{port}", "--data-dir", dataDir,
            "--Gateway:Mqtt:Broker:Enabled=true", $"--Gateway:Mqtt:Broker:Port={mqttPort}", "--Gateway:Mqtt:Broker:BindAddress=127.0.0.1"];
        await using var gateway = await PublishedProcess.StartAsync(publish.Start(serve), port);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", technician);

        // A board: handshake, auth, one reading acknowledged once stored.
        await using (var board = await TestClient.ConnectDeviceAsync(new Uri($"ws://127.0.0.1:{port}/ws"), "esp-pub", token))
        {
            await board.SendAsync(new { type = "data", seq = 1, data = new { temperature = 21.5, humidity = 40.25 } });
            var ack = await board.ReceiveAsync("data_response");
            Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());

            var readings = await Json(await http.GetAsync("/api/devices/esp-pub/readings"));
            Assert.Contains("21.5", readings.ToString(), StringComparison.Ordinal);

            // A technician's call, answered by the board, with what really happened.
            var post = http.PostAsync("/api/devices/esp-pub/rpc", new StringContent("""{"endpoint":"get_sensor_status"}""", Encoding.UTF8, "application/json"));
            var request = await board.ReceiveAsync("request");
            await board.SendAsync(new { type = "response", requestId = request.GetProperty("requestId").GetString(), success = true, data = new { uptime = 1000 } });
            var call = await Json(await post);
            Assert.Equal("succeeded", call.GetProperty("status").GetString());
            Assert.Equal(1000, call.GetProperty("result").GetProperty("uptime").GetInt32());
        }

        // Home Assistant's view: retained state on the embedded broker, for the technician's key.
        var seen = await MosquittoClients.SubscribeAsync(mqttPort, technician, 4, "mqttv311", "iotws/#");
        Assert.Contains(seen.OutLines, l => l.StartsWith("1 iotws/esp-pub/state ", StringComparison.Ordinal) && l.Contains("21.5", StringComparison.Ordinal));

        // Typed results (ASP.NET Core's serializer), the status page and the health report.
        var me = await Json(await http.GetAsync("/api/me"));
        Assert.Equal("""{"name":"field-tech","role":"technician"}""", me.GetRawText());
        var status = await Json(await http.GetAsync("/api/status"));
        Assert.True(status.GetProperty("mqtt").GetProperty("embeddedBroker").GetProperty("running").GetBoolean(), status.ToString());
        var ready = await Json(await http.GetAsync("/readyz"));
        Assert.Contains(ready.GetProperty("checks").EnumerateArray(), c => c.GetProperty("name").GetString() == "database");

        // Errors are problems with a detail, not empty answers or 500s.
        using var bad = await http.GetAsync("/api/alerts?limit=abc");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        Assert.Contains("limit must be an integer", (await Json(bad)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var wrongKey = new HttpClient { BaseAddress = http.BaseAddress };
        wrongKey.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "iwk_wrong");
        using var refused = await wrongKey.GetAsync("/api/devices");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.False(string.IsNullOrEmpty((await Json(refused)).GetProperty("detail").GetString()));

        // A setting out of range, in a nested section, stops it with one line that names it.
        var (code, _, err) = await publish.RunAsync("--urls", "http://127.0.0.1:0", "--data-dir", publish.NewDataDir(), "--Gateway:Storage:CommitBatchSize=0");
        Assert.NotEqual(0, code);
        Assert.StartsWith("Configuration error:", err.Trim(), StringComparison.Ordinal);
        Assert.Contains("CommitBatchSize", err, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> Verb(GatewayPublish publish, params string[] args)
    {
        var (code, stdout, stderr) = await publish.RunAsync(args);
        Assert.True(code == 0, $"{string.Join(' ', args)}: exit {code}\n{stderr}");
        return JsonDocument.Parse(stdout).RootElement;
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.Content.Headers.ContentType?.MediaType is "application/json" or "application/problem+json", $"{(int)response.StatusCode}: {text}");
            return JsonDocument.Parse(text).RootElement.Clone();
        }
    }
}

/// <summary>
/// Tests that build or publish the gateway, one at a time: a build -o writes the gateway's obj folder, and a publish
/// takes both cores for minutes.
/// </summary>
[CollectionDefinition(Name)]
public sealed class GatewayObjFolder
{
    public const string Name = "writes the gateway's obj folder";
}
