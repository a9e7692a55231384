using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;
using IotWs.Gateway.Cli;
using IotWs.Gateway.Tests.Cli;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Tests.Tls;

/// <summary>TLS end to end: `certs create`, Kestrel on https/wss with that certificate, the simulator's transport pinning it.</summary>
public sealed class TlsEndToEndTests : IDisposable
{
    private readonly string _dir = TestGateway.NewDataDir();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private static JsonElement CreateCertificate(string dataDir, params string[] extra)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = GatewayCli.Run(["certs", "create", "--data-dir", dataDir, .. extra], output, error);
        Assert.True(code == 0, error.ToString());
        return JsonDocument.Parse(output.ToString()).RootElement.Clone();
    }

    [Fact]
    public void Certs_create_makes_a_certificate_for_this_host_keeps_the_key_owner_only_and_prints_its_fingerprint()
    {
        var printed = CreateCertificate(_dir, "--host", "gateway.example", "--ip", "192.0.2.10");
        var certificatePath = Path.Combine(_dir, "tls", "gateway.crt");
        var keyPath = Path.Combine(_dir, "tls", "gateway.key");
        Assert.Equal(certificatePath, printed.GetProperty("certificate").GetString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", File.ReadAllText(certificatePath));

        using var certificate = X509CertificateLoader.LoadCertificateFromFile(certificatePath);
        var expected = string.Join(':', Convert.ToHexString(SHA256.HashData(certificate.RawData)).Chunk(2).Select(c => new string(c)));
        Assert.Equal(expected, printed.GetProperty("sha256").GetString());
        var names = printed.GetProperty("dnsNames").EnumerateArray().Select(n => n.GetString()).ToList();
        Assert.Contains("gateway.example", names);
        Assert.Contains("localhost", names);
        Assert.Contains(System.Net.Dns.GetHostName(), names);
        var ips = printed.GetProperty("ipAddresses").EnumerateArray().Select(n => n.GetString()).ToList();
        Assert.Contains("127.0.0.1", ips);
        Assert.Contains("192.0.2.10", ips);
        Assert.True(certificate.NotAfter > DateTime.Now.AddYears(9));

        // An existing certificate is not replaced by accident: devices pin it.
        var again = new StringWriter();
        Assert.Equal(1, GatewayCli.Run(["certs", "create", "--data-dir", _dir], TextWriter.Null, again));
        Assert.Contains(expected, again.ToString());
        var replaced = CreateCertificate(_dir, "--force");
        Assert.NotEqual(expected, replaced.GetProperty("sha256").GetString());

        var shown = new StringWriter();
        Assert.Equal(0, GatewayCli.Run(["certs", "show", "--data-dir", _dir], shown, TextWriter.Null));
        Assert.Equal(replaced.GetProperty("sha256").GetString(), JsonDocument.Parse(shown.ToString()).RootElement.GetProperty("sha256").GetString());
    }

    [Fact]
    public void Certs_create_refuses_a_bad_address_or_name()
    {
        var error = new StringWriter();
        Assert.Equal(1, GatewayCli.Run(["certs", "create", "--data-dir", _dir, "--ip", "300.1.1.1"], TextWriter.Null, error));
        Assert.Contains("--ip 300.1.1.1: not an IP address", error.ToString());
        Assert.Equal(1, GatewayCli.Run(["certs", "create", "--data-dir", _dir, "--host", "bad name"], TextWriter.Null, error));
        Assert.False(File.Exists(Path.Combine(_dir, "tls", "gateway.crt")));
    }

    [Fact]
    public async Task A_simulated_board_sends_readings_over_wss_pinned_to_the_gateway_certificate()
    {
        var fingerprint = CreateCertificate(_dir).GetProperty("sha256").GetString()!;
        await using var app = await StartHttpsAsync(_dir);
        var wss = WssUri(app);
        var token = app.Services.GetRequiredService<Identity.IdentityStore>().AddDevice("esp-tls", null, null);
        Assert.True(CertificatePin.TryParseFingerprint(fingerprint, out var pin));

        await using var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrl = wss,
            Devices = [new DeviceCredential("esp-tls", token)],
            ReadingInterval = TimeSpan.FromSeconds(2),
            SensorFailureRate = 0,
            TlsPin = pin,
        });
        var board = fleet.Boards[0];
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (board.ReadingsAcked < 2 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(board.ReadingsAcked >= 2, $"acked {board.ReadingsAcked}, state {board.State}");

        // An ack means stored: the readings are in the database.
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_dir, "iotws.db")};Pooling=false");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM readings WHERE device_id = 'esp-tls'";
        Assert.True((long)count.ExecuteScalar()! >= 2);
    }

    [Fact]
    public async Task A_board_pinned_to_another_certificate_refuses_the_gateway_and_the_right_pin_connects()
    {
        CreateCertificate(_dir);
        var otherDir = TestGateway.NewDataDir();
        try
        {
            var otherFingerprint = CreateCertificate(otherDir).GetProperty("sha256").GetString()!;
            await using var app = await StartHttpsAsync(_dir);
            var wss = WssUri(app).ToString();

            Assert.True(CertificatePin.TryParseFingerprint(otherFingerprint, out var wrong));
            var refused = new LinkEvents();
            var wrongTransport = new WebSocketTransport(connectTimeout: TimeSpan.FromSeconds(10), pin: wrong);
            Assert.True(wrongTransport.Connect(wss, refused));
            Assert.Equal(1006, await refused.Closed.Task.WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.False(refused.Opened.Task.IsCompleted, "the TLS handshake must fail before the WebSocket opens");

            var right = CertificatePin.FromCertificateFile(Path.Combine(_dir, "tls", "gateway.crt"));
            var accepted = new LinkEvents();
            var transport = new WebSocketTransport(pin: right);
            Assert.True(transport.Connect(wss, accepted));
            await accepted.Opened.Task.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Contains("\"welcome\"", await accepted.FirstMessage.Task.WaitAsync(TimeSpan.FromSeconds(20)));
            await transport.ShutdownAsync();
            await wrongTransport.ShutdownAsync();
        }
        finally
        {
            try { Directory.Delete(otherDir, true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task Https_without_a_certificate_is_one_line_and_exit_1()
    {
        var result = await GatewayCommand.RunAsync("serve", "--urls", "https://127.0.0.1:0", "--data-dir", _dir);
        Assert.True(result.ExitCode == 1, result.ToString());
        var line = Assert.Single(result.ErrLines);
        Assert.StartsWith("error: https needs a certificate: run `IotWs.Gateway certs create`", line);
    }

    private static async Task<WebApplication> StartHttpsAsync(string dataDir)
    {
        var app = GatewayApp.Build(["--urls", "https://127.0.0.1:0", "--data-dir", dataDir, "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        return app;
    }

    private static Uri WssUri(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Assert.StartsWith("https://", address);
        return new Uri(address.Replace("https://", "wss://", StringComparison.Ordinal) + "/ws");
    }

    private sealed class LinkEvents : ITransportListener
    {
        public TaskCompletionSource Opened { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<int> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<string> FirstMessage { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnOpened() => Opened.TrySetResult();
        public void OnMessage(string text) => FirstMessage.TrySetResult(text);
        public void OnClosed(int closeCode) => Closed.TrySetResult(closeCode);
    }
}
