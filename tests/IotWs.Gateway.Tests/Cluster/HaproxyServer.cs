using System.Diagnostics;
using System.Globalization;
using System.Net;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>
/// A real haproxy (Debian's package) in front of the cluster's gateways: its own config file in a temp folder, a
/// free loopback port, run in the foreground by the test (never the system service) and killed on dispose.
/// </summary>
public sealed class HaproxyServer : IAsyncDisposable
{
    public const string BinaryPath = "/usr/sbin/haproxy";

    private readonly string _directory;
    private readonly Process _process;
    private readonly List<string> _output = [];

    private HaproxyServer(string directory, int port, Process process)
    {
        _directory = directory;
        Port = port;
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Port { get; }

    /// <summary>The one address devices are given: ws://127.0.0.1:port/ws.</summary>
    public Uri WsUri => new($"ws://127.0.0.1:{Port}/ws");

    public Uri HttpBase => new($"http://127.0.0.1:{Port}/");

    public string Output
    {
        get { lock (_output) return string.Join('\n', _output); }
    }

    /// <summary>
    /// The config: HTTP mode (WebSocket upgrades pass through and then live under "timeout tunnel"), health checks on
    /// /readyz twice a second, and "balance first", so every connection goes to the first healthy gateway of the list:
    /// a test knows which node holds the devices without asking the cluster. A connect refused by a dead node that the
    /// checks have not yet marked down is retried on the next one (redispatch on every retry).
    /// </summary>
    internal static string Config(int port, IReadOnlyList<(string Name, int Port)> backends)
    {
        var lines = new List<string>
        {
            "global",
            "  maxconn 4000",
            "defaults",
            "  mode http",
            "  timeout connect 500ms",
            "  timeout client 30s",
            "  timeout server 30s",
            "  timeout tunnel 10m",
            "  timeout client-fin 1s",
            "  timeout server-fin 1s",
            "  timeout http-request 5s",
            // A loaded test machine may take a second to answer /readyz (it writes the database): not a reason to drop a node.
            "  timeout check 3s",
            "  retries 3",
            "  option redispatch 1",
            "frontend gateways",
            $"  bind 127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
            "  default_backend nodes",
            "backend nodes",
            "  balance first",
            "  option forwardfor",
            "  option httpchk GET /readyz",
            "  http-check expect status 200",
            "  default-server check inter 500ms fastinter 250ms downinter 250ms fall 2 rise 1 maxconn 1000",
        };
        lines.AddRange(backends.Select(b => $"  server {b.Name} 127.0.0.1:{b.Port.ToString(CultureInfo.InvariantCulture)}"));
        return string.Join('\n', lines) + "\n";
    }

    public static async Task<HaproxyServer> StartAsync(IReadOnlyList<(string Name, int Port)> backends)
    {
        if (!File.Exists(BinaryPath))
        {
            throw new InvalidOperationException($"{BinaryPath} is missing and CI=true, so this test fails instead of skipping. Install it: apt-get install -y haproxy");
        }
        var directory = Directory.CreateTempSubdirectory("iotws-haproxy-").FullName;
        var port = MosquittoBroker.FreeLoopbackPort();
        var config = Path.Combine(directory, "haproxy.cfg");
        await File.WriteAllTextAsync(config, Config(port, backends));
        // -db: stay in the foreground, so the test owns the process and its output.
        var process = Process.Start(new ProcessStartInfo(BinaryPath, ["-db", "-f", config])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        }) ?? throw new InvalidOperationException("haproxy did not start");
        var server = new HaproxyServer(directory, port, process);
        try
        {
            await server.WaitUntilServingAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until a request through the proxy reaches a healthy gateway.</summary>
    private async Task WaitUntilServingAsync()
    {
        using var http = new HttpClient { BaseAddress = HttpBase, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"haproxy exited with {_process.ExitCode}: {Output}");
            try
            {
                if ((await http.GetAsync("/healthz")).StatusCode == HttpStatusCode.OK) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"haproxy on {Port} did not reach a gateway within 20 s: {Output}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
