using System.Diagnostics;
using System.Text.RegularExpressions;

namespace IotWs.Gateway.Tests.Readings;

/// <summary>The built gateway (IotWs.Gateway.dll next to the tests) run as a child process on 127.0.0.1 and a random port.</summary>
internal sealed partial class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output;

    private GatewayProcess(Process process, Uri http, List<string> output)
    {
        _process = process;
        _output = output;
        HttpBase = http;
        WsUri = new Uri(http.ToString().Replace("http://", "ws://", StringComparison.Ordinal).TrimEnd('/') + "/ws");
    }

    public Uri HttpBase { get; }
    public Uri WsUri { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>Every line the process wrote so far (stdout and stderr), for a failing test's message.</summary>
    public string Output
    {
        get { lock (_output) return string.Join('\n', _output); }
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    public static Task<GatewayProcess> StartAsync(string dataDir, params string[] settings) => StartAsync(dataDir, 0, settings);

    /// <summary>Starts on a given loopback port (0: a random one), e.g. to restart a killed node where a load balancer expects it.</summary>
    public static async Task<GatewayProcess> StartAsync(string dataDir, int port, params string[] settings)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "IotWs.Gateway.dll");
        var info = new ProcessStartInfo(DotnetHost(), [dll, "--urls", $"http://127.0.0.1:{port}", "--data-dir", dataDir,
            "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information", .. settings.Select(s => "--Gateway:" + s)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(info)!;
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var lines = new List<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (lines) lines.Add(e.Data);
            if (Listening().Match(e.Data) is { Success: true } m) address.TrySetResult(m.Groups[1].Value);
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var url = await address.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return new GatewayProcess(process, new Uri(url), lines);
        }
        catch (TimeoutException)
        {
            process.Kill(true);
            lock (lines) throw new InvalidOperationException("The gateway did not start: " + string.Join('\n', lines));
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, as when the power goes or the OOM killer strikes.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit(10_000);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    private static string DotnetHost() =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
}
