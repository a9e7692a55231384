using System.Text.Encodings.Web;
using System.Text.Json;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;
using IotWs.Gateway;
using IotWs.Gateway.Cli;
using IotWs.Gateway.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace IotWs.Firmware.Tests.EndToEnd;

/// <summary>
/// The operator's path to a pinned board, with real parts: `certs create`, the gateway serving wss://, a
/// config.json carrying tls/gateway.crt as flash.ps1 writes it, the firmware's parser, and a board that
/// trusts only the certificate that config gives it.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class PinnedTlsEndToEndTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iotws-e2e-tls-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_board_configured_with_the_gateway_certificate_sends_readings_over_wss()
    {
        var created = new StringWriter();
        var failed = new StringWriter();
        Assert.True(GatewayCli.Run(["certs", "create", "--data-dir", _dir], created, failed) == 0, failed.ToString());

        await using var app = GatewayApp.Build(["--urls", "https://127.0.0.1:0", "--data-dir", _dir, "--Logging:LogLevel:Default=Warning"]);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var wss = address.Replace("https://", "wss://", StringComparison.Ordinal) + "/ws";
        var token = app.Services.GetRequiredService<IdentityStore>().AddDevice("esp-pinned", null, null);

        // config.json as flash.ps1 -TlsCertificate writes it (raw UTF-8, no \u escapes), read by the firmware's parser.
        var config = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            [ConfigKeys.WifiSsid] = "home",
            [ConfigKeys.GatewayUrl] = wss,
            [ConfigKeys.GatewayUrls] = new[] { wss },
            [ConfigKeys.DeviceId] = "esp-pinned",
            [ConfigKeys.Token] = token,
            [ConfigKeys.TlsCertificate] = File.ReadAllText(Path.Combine(_dir, "tls", "gateway.crt")),
        }, new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var settings = DeviceSettings.FromConfig(new SystemTextJsonCodec().Parse(config)!, out var error);
        Assert.True(error is null, error);
        Assert.True(settings.UsesTls);

        await using var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrls = [.. settings.EffectiveGatewayUrls.Select(u => new Uri(u))],
            Devices = [new DeviceCredential(settings.DeviceId, settings.Token)],
            SensorFailureRate = 0,
            TlsPin = CertificatePin.FromPem(settings.TlsCertificate),
        });
        var board = fleet.Boards[0];
        await SimulatedFleetTests.WaitUntil(() => board.ReadingsAcked >= 2, "two readings acked over wss://");

        using var connection = new SqliteConnection($"Data Source={Path.Combine(_dir, "iotws.db")};Pooling=false");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM readings WHERE device_id = 'esp-pinned'";
        Assert.True((long)count.ExecuteScalar()! >= 2);
    }
}
