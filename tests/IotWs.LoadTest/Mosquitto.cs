using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace IotWs.LoadTest;

/// <summary>Mosquitto with its defaults on a free loopback port, nothing persisted, in a temp directory.</summary>
internal sealed class Mosquitto : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private Mosquitto(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }
    public int Pid => _process.Id;

    public static async Task<Mosquitto> StartAsync()
    {
        const string path = "/usr/sbin/mosquitto";
        if (!File.Exists(path)) throw new InvalidOperationException($"{path} is missing: apt-get install -y mosquitto");
        var directory = Directory.CreateTempSubdirectory("iotws-bench-mosquitto-").FullName;
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((IPEndPoint)l.LocalEndpoint).Port;
        }
        var config = Path.Combine(directory, "mosquitto.conf");
        File.WriteAllLines(config, [$"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false", $"log_dest file {directory}/mosquitto.log", "user root"]);
        var process = Process.Start(new ProcessStartInfo(path, ["-c", config]) { UseShellExecute = false }) ?? throw new InvalidOperationException("mosquitto did not start");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (process.HasExited) throw new InvalidOperationException($"mosquitto exited with {process.ExitCode}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return new Mosquitto(process, directory, port);
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }
        process.Kill();
        throw new TimeoutException("mosquitto did not listen within 10 s");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try { Directory.Delete(_directory, true); } catch (IOException) { }
    }
}
