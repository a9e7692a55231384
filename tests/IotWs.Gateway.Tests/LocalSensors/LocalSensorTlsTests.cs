using IotWs.Gateway.Cli;
using IotWs.Gateway.LocalSensors;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Readings;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Tests.LocalSensors;

/// <summary>A gateway that serves https only: the local sensor connects over wss, pinned to the gateway's own certificate (real time).</summary>
public sealed class LocalSensorTlsTests : IDisposable
{
    private readonly string _dir = TestGateway.NewDataDir();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    [Fact]
    public async Task On_an_https_only_gateway_the_local_sensor_connects_over_wss_pinned_to_the_gateways_certificate()
    {
        Assert.Equal(0, GatewayCli.Run(["certs", "create", "--data-dir", _dir], TextWriter.Null, TextWriter.Null));
        var app = GatewayApp.Build(
            ["--urls", "https://127.0.0.1:0", "--data-dir", _dir, "--Logging:LogLevel:Default=Warning",
             .. LocalSensorRig.Sensor(0, "pi-tls", "GpioPin=5", "ReadingInterval=00:00:02").Select(s => "--Gateway:" + s)],
            b => b.Services.AddSingleton<ILocalSensorHardware>(new ScriptedDht(TimeProvider.System)));
        await app.StartAsync();
        try
        {
            await LocalSensorRig.Until(() => ReadingsDb.ReadingCount(_dir) >= 1, "a reading over wss", TimeSpan.FromSeconds(20));
            var board = app.Services.GetRequiredService<LocalSensorService>().Boards.Single();
            Assert.True(board.Core.IsRunning);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
