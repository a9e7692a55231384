using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Rpc;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Mqtt;

/// <summary>
/// Revoking a key with the CLI, in another process, reaches the embedded broker's live clients as it reaches
/// WebSockets: mosquitto_sub and mosquitto_pub stay connected across the revocation and are cut off.
/// </summary>
public sealed class EmbeddedBrokerRevocationTests
{
    private static readonly TimeSpan FewSeconds = TimeSpan.FromSeconds(8);

    private static string[] Broker(int port, params string[] more) =>
        ["Mqtt:Broker:Enabled=true", $"Mqtt:Broker:Port={port}", "Mqtt:Broker:BindAddress=127.0.0.1", .. more];

    private static async Task<string> Cli(TestGateway gateway, params string[] args)
    {
        var (code, output, error) = await CliProcess.RunAsync(gateway.DataDir, args);
        Assert.True(code == 0, $"{string.Join(' ', args)} → {code}: {error}");
        return output;
    }

    private static async Task<string> CliAddKey(TestGateway gateway, string name, string role) =>
        JsonDocument.Parse(await Cli(gateway, "keys", "add", name, "--role", role)).RootElement.GetProperty("key").GetString()!;

    private static async Task<JsonElement> EmbeddedStatus(TestGateway gateway)
    {
        using var http = gateway.Http(gateway.AddKey("viewer"));
        return JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt").GetProperty("embeddedBroker").Clone();
    }

    [MosquittoFact(needsClients: true)]
    public async Task A_viewer_key_revoked_by_the_cli_disconnects_a_listening_mosquitto_sub()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port));
        var token = gateway.AddDevice("esp-attic");
        await using var device = await gateway.ConnectDeviceAsync("esp-attic", token);
        var doomed = await CliAddKey(gateway, "ha-old", "viewer");
        var other = await CliAddKey(gateway, "ha-new", "viewer");

        // One client per key: the revoked key's client goes, the other key's stays.
        await using var revoked = LiveTool.Subscribe(port, doomed, "mqttv311", "iotws/#");
        await using var kept = LiveTool.Subscribe(port, other, "mqttv311", "iotws/#");
        await revoked.WaitForLineAsync(l => l == "iotws/gateway/availability online", "the retained gateway availability");
        await kept.WaitForLineAsync(l => l == "iotws/gateway/availability online", "the retained gateway availability");

        await Cli(gateway, "keys", "revoke", "ha-old");

        // MQTT 3.1.1 has no DISCONNECT from the broker: the connection is closed, and mosquitto_sub's reconnect is refused.
        Assert.True(await revoked.ExitedWithinAsync(FewSeconds), $"mosquitto_sub is still connected after its key was revoked: {revoked}");
        Assert.Contains("bad user name or password", revoked.Err, StringComparison.Ordinal);
        await device.SendAsync(new { type = "data", seq = 1, data = new { temperature = 20.5, humidity = 41 } });
        await kept.WaitForLineAsync(l => l.StartsWith("iotws/esp-attic/state {\"temperature\":20.5,", StringComparison.Ordinal), "a live reading on the kept client");
        Assert.False(kept.HasExited, kept.ToString());
        Assert.Equal(1, (await EmbeddedStatus(gateway)).GetProperty("revokedClients").GetInt64());
    }

    [MosquittoFact(needsClients: true)]
    public async Task A_viewer_key_revoked_by_the_cli_disconnects_an_MQTT_5_mosquitto_sub_told_not_authorized()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port));
        var key = await CliAddKey(gateway, "ha-v5", "viewer");
        await using var sub = LiveTool.Subscribe(port, key, "mqttv5", "iotws/#");
        await sub.WaitForLineAsync(l => l == "iotws/gateway/availability online", "the retained gateway availability");

        await Cli(gateway, "keys", "revoke", "ha-v5");

        Assert.True(await sub.ExitedWithinAsync(FewSeconds), $"mosquitto_sub -V mqttv5 is still connected after its key was revoked: {sub}");
        Assert.Equal(1, (await EmbeddedStatus(gateway)).GetProperty("revokedClients").GetInt64());
    }

    [MosquittoFact(needsClients: true)]
    public async Task A_technician_key_revoked_by_the_cli_cannot_send_another_command_on_its_open_connection()
    {
        var port = MosquittoBroker.FreeLoopbackPort();
        await using var gateway = await TestGateway.StartAsync(null, Broker(port, "Mqtt:Commands:Enabled=true", "Mqtt:Commands:ApiKeyName=ha-tech"));
        gateway.AddKey("technician", "ha-tech");
        var anna = await CliAddKey(gateway, "anna", "technician");
        var token = gateway.AddDevice("esp-attic");
        await using var device = await gateway.ConnectDeviceAsync("esp-attic", token);

        // mosquitto_pub -l keeps one connection and publishes each line it reads.
        await using var pub = LiveTool.PublishLines(port, anna, "mqttv5", "iotws/esp-attic/command/identify");
        await pub.SendLineAsync("{}");
        var request = await device.ReceiveAsync("request");
        Assert.Equal("identify", request.GetProperty("endpoint").GetString());
        await RpcSteps.AnswerAsync(device, request, new { blinking = true });

        await Cli(gateway, "keys", "revoke", "anna");
        // At once, before any poll: the command path reads the change counter itself.
        await pub.SendLineAsync("{}");

        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromSeconds(2)), "a command from a revoked key reached the device");
        // The sweep disconnects it (135: not authorized); mosquitto_pub -l itself waits for more input. The second
        // command either came first and was refused (PUBACK 135), or found the connection gone: never accepted.
        await pub.WaitForLineAsync(l => l == "Received DISCONNECT (135)", "the broker's DISCONNECT", exitOk: true);
        Assert.DoesNotContain(pub.OutLines, l => l.Contains("received PUBACK (Mid: 2, RC:", StringComparison.Ordinal) && !l.EndsWith("RC:135)", StringComparison.Ordinal));
        using var http = gateway.Http(gateway.AddKey("admin"));
        Assert.Single(JsonDocument.Parse(await http.GetStringAsync("/api/rpc")).RootElement.EnumerateArray());
    }

    /// <summary>A Mosquitto command-line client left running (line-buffered), to watch it while the gateway acts.</summary>
    private sealed class LiveTool : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _out = new();
        private readonly ConcurrentQueue<string> _err = new();

        private LiveTool(string path, IEnumerable<string> args)
        {
            var info = new ProcessStartInfo("stdbuf", ["-oL", path, .. args])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            _process = Process.Start(info) ?? throw new InvalidOperationException($"{path} did not start");
            _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _out.Enqueue(e.Data); };
            _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _err.Enqueue(e.Data); };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public bool HasExited => _process.HasExited;

        public string Err => string.Join('\n', _err);

        public IReadOnlyList<string> OutLines => [.. _out];

        /// <summary>mosquitto_sub for up to 60 s, printing "{topic} {payload}".</summary>
        public static LiveTool Subscribe(int port, string key, string version, string topic) =>
            new(MosquittoBroker.SubscriberPath, ["-h", "127.0.0.1", "-p", $"{port}", "-V", version, "-i", NewId(), "-W", "60", "-q", "1",
                "-u", MosquittoClients.User, "-P", key, "-v", "-t", topic]);

        /// <summary>mosquitto_pub -l -d: one message (QoS 1) per line written to it, on one connection; -d prints the packets.</summary>
        public static LiveTool PublishLines(int port, string key, string version, string topic) =>
            new(MosquittoBroker.PublisherPath, ["-h", "127.0.0.1", "-p", $"{port}", "-V", version, "-i", NewId(), "-q", "1",
                "-u", MosquittoClients.User, "-P", key, "-t", topic, "-l", "-d"]);

        public async Task SendLineAsync(string line)
        {
            await _process.StandardInput.WriteLineAsync(line);
            await _process.StandardInput.FlushAsync();
        }

        public async Task WaitForLineAsync(Func<string, bool> wanted, string what, bool exitOk = false)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (!_out.Any(wanted))
            {
                Assert.True(DateTime.UtcNow < deadline, $"never printed {what}: {this}");
                Assert.False(_process.HasExited && !exitOk, $"exited before printing {what}: {this}");
                await Task.Delay(20);
            }
        }

        public async Task<bool> ExitedWithinAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await _process.WaitForExitAsync(cts.Token);
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        public override string ToString() =>
            $"exited {(_process.HasExited ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "no")}\nstdout:\n{string.Join('\n', _out)}\nstderr:\n{Err}";

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
        }

        private static string NewId() => $"live-{Guid.NewGuid():N}"[..20];
    }
}
