using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace IotWs.Mqtt.Tests.Infrastructure;

/// <summary>A real Mosquitto on a free loopback port with its own temp directory, stopped and deleted on dispose.</summary>
internal sealed class MosquittoBroker : IAsyncDisposable
{
    public const string BrokerPath = "/usr/sbin/mosquitto";
    public const string SubscriberPath = "/usr/bin/mosquitto_sub";
    public const string PublisherPath = "/usr/bin/mosquitto_pub";

    private readonly string _directory;
    private readonly string _configPath;
    private Process? _process;

    private MosquittoBroker(bool persistent, bool tls)
    {
        _directory = Directory.CreateTempSubdirectory("iotws-mosquitto-").FullName;
        _configPath = Path.Combine(_directory, "mosquitto.conf");
        Port = FreeLoopbackPort();
        // "user root" only matters when the tests run as root: it stops Mosquitto dropping to a user
        // that could not write the temp directory.
        List<string> config =
        [
            $"listener {Port} 127.0.0.1",
            "allow_anonymous true",
            $"persistence {(persistent ? "true" : "false")}",
            $"persistence_location {_directory}/",
            $"log_dest file {LogPath}",
            // "subscribe" lines let a test see which filters a client really subscribed (the broker's view, not the client's).
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_type subscribe",
            "user root",
        ];
        if (tls)
        {
            Certificate = WriteSelfSignedCertificate(config);
        }

        File.WriteAllLines(_configPath, config);
    }

    /// <summary>The PEM file of the broker's self-signed certificate (TLS only): what an operator hands to Gateway:Mqtt:CaCertificate.</summary>
    public string CertificatePath => Path.Combine(_directory, "broker.crt");

    /// <summary>The broker's self-signed certificate when started with TLS.</summary>
    public X509Certificate2? Certificate { get; }

    public int Port { get; }

    public string LogPath => Path.Combine(_directory, "mosquitto.log");

    public static async Task<MosquittoBroker> StartAsync(bool persistent = true, bool tls = false)
    {
        RequireInstalled(BrokerPath);
        var broker = new MosquittoBroker(persistent, tls);
        try
        {
            await broker.RestartAsync();
            return broker;
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
    }

    /// <summary>Only reached when the binary exists or CI=true (see <see cref="MosquittoFactAttribute"/>).</summary>
    public static void RequireInstalled(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidOperationException(
                $"{path} is missing and CI=true, so this test fails instead of skipping. Install it: apt-get install -y mosquitto mosquitto-clients");
        }
    }

    /// <summary>Starts (again) on the same port and waits until it accepts connections.</summary>
    public async Task RestartAsync()
    {
        _process = Process.Start(new ProcessStartInfo(BrokerPath, ["-c", _configPath]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("mosquitto did not start");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"mosquitto exited with {_process.ExitCode}: {ReadLog()}");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }

        throw new TimeoutException($"mosquitto did not listen on {Port} within 10 s: {ReadLog()}");
    }

    /// <summary>SIGKILL: the broker gets no chance to save anything or say goodbye.</summary>
    /// <summary>Stops Mosquitto with SIGTERM, so a persistent broker saves its sessions and their queued messages first.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false })
        {
            using (var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false }))
            {
                await term!.WaitForExitAsync();
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(timeout.Token);
        }

        _process?.Dispose();
        _process = null;
    }

    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    public string ReadLog()
    {
        if (!File.Exists(LogPath)) return "(no log)";
        // Mosquitto keeps the file open for writing: share it rather than fail.
        using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Waits until the broker's log has a line containing <paramref name="text"/> (e.g. a client's subscription).</summary>
    public Task WaitForLogAsync(string text, TimeSpan? timeout = null) =>
        Eventually.UntilAsync(() => ReadLog().Contains(text, StringComparison.Ordinal), $"the Mosquitto log shows '{text}'", timeout);

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        Certificate?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory must not fail a test.
        }
    }

    private X509Certificate2 WriteSelfSignedCertificate(List<string> config)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = Path.Combine(_directory, "broker.crt");
        var keyPath = Path.Combine(_directory, "broker.key");
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        config.Add($"certfile {certPath}");
        config.Add($"keyfile {keyPath}");
        return certificate;
    }

    public static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>
/// A fact that needs Mosquitto: skipped with the reason when it is not installed, but run (and so failing
/// with a clear message) when CI=true, where a missing broker is an install bug.
/// </summary>
public sealed class MosquittoFactAttribute : FactAttribute
{
    public MosquittoFactAttribute(bool needsClients = false)
    {
        string[] needed = needsClients
            ? [MosquittoBroker.BrokerPath, MosquittoBroker.SubscriberPath, MosquittoBroker.PublisherPath]
            : [MosquittoBroker.BrokerPath];
        var missing = needed.FirstOrDefault(path => !File.Exists(path));
        var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (missing is not null && !ci)
        {
            Skip = $"{missing} is not installed (apt-get install -y mosquitto mosquitto-clients); with CI=true this test fails instead.";
        }
    }
}
