using System.Text.Json.Nodes;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Simulation;
using IotWs.Gateway.Status;
using IotWs.Gateway.Wire;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.LocalSensors;

/// <summary>
/// Gateway:LocalSensors: registers each sensor's device when it is missing, gives it a fresh token at every start
/// (kept in memory only: tokens are stored as hashes) and, once Kestrel listens, runs it as a <see cref="LocalBoard"/>
/// against this gateway's own WebSocket endpoint. State (boot counter, readings not yet acknowledged at shutdown) is
/// kept in &lt;data dir&gt;/localsensors/&lt;deviceId&gt;.json.
/// </summary>
internal sealed class LocalSensorService(
    IOptions<LocalSensorsOptions> options,
    IOptions<GatewayOptions> gateway,
    IdentityStore identities,
    ILocalSensorHardware hardware,
    IServer server,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILoggerFactory loggers) : IHostedService
{
    public const string StateDirectoryName = "localsensors";

    private readonly ILogger _logger = loggers.CreateLogger("IotWs.Gateway.LocalSensors");
    private readonly List<LocalBoard> _boards = [];
    private readonly object _gate = new();
    private bool _stopped;

    /// <summary>The running sensors (tests and /api/status).</summary>
    public IReadOnlyList<LocalBoard> Boards
    {
        get
        {
            lock (_gate) return [.. _boards];
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var sensors = options.Value.LocalSensors;
        if (sensors.Count == 0) return Task.CompletedTask;
        var credentials = new List<(LocalSensorOptions Sensor, string Token)>();
        foreach (var sensor in sensors)
        {
            var existing = identities.FindDevice(sensor.DeviceId);
            if (existing is { Revoked: true })
            {
                // Revoking is how an operator stops a device: the gateway does not undo it.
                LocalSensorLog.Revoked(_logger, sensor.DeviceId);
                continue;
            }
            string token;
            if (existing is null)
            {
                token = identities.AddDevice(sensor.DeviceId, sensor.DisplayName, sensor.Location);
                LocalSensorLog.Registered(_logger, sensor.DeviceId, sensor.DisplayName);
            }
            else
            {
                token = identities.RotateToken(sensor.DeviceId);
            }
            credentials.Add((sensor, token));
        }
        lifetime.ApplicationStarted.Register(() => Start(credentials));
        // Before the server stops: each sensor closes its link with 1001 and keeps what is not acknowledged yet.
        lifetime.ApplicationStopping.Register(StopBoards);
        return Task.CompletedTask;
    }

    private void Start(List<(LocalSensorOptions Sensor, string Token)> credentials)
    {
        var (url, pin) = LoopbackUrl();
        var stateDirectory = Path.Combine(gateway.Value.DataDirectory, StateDirectoryName);
        foreach (var (sensor, token) in credentials)
        {
            var logger = loggers.CreateLogger("IotWs.Gateway.LocalSensors." + sensor.DeviceId);
            var board = new LocalBoard(sensor, url, token, pin, sensor.HeartbeatInterval ?? gateway.Value.HeartbeatInterval,
                OpenStore(stateDirectory, sensor.DeviceId), hardware.Open(sensor), time, logger);
            lock (_gate)
            {
                if (_stopped) return;
                _boards.Add(board);
            }
            board.Start();
            var detail = sensor.IsIio ? sensor.IioDevicePath : $"GPIO {sensor.GpioPin} (BCM)";
            LocalSensorLog.Started(_logger, sensor.DeviceId, sensor.IsIio ? LocalSensorOptions.Iio : LocalSensorOptions.Gpio, detail, url);
        }
    }

    /// <summary>This gateway's WebSocket endpoint from the inside: an http address when there is one, else wss pinned to the gateway's certificate.</summary>
    private (string Url, CertificatePin? Pin) LoopbackUrl()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
        var address = addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            ?? addresses.FirstOrDefault() ?? "http://127.0.0.1:5080";
        var url = SimulationService.LocalWebSocketUrl(address);
        CertificatePin? pin = null;
        if (url.StartsWith("wss://", StringComparison.Ordinal))
        {
            var (certificate, _) = gateway.Value.Tls.Paths(gateway.Value.DataDirectory);
            if (File.Exists(certificate)) pin = CertificatePin.FromCertificateFile(certificate);
        }
        return (url, pin);
    }

    /// <summary>The sensor's state file; an unreadable one is set aside (the gateway's lastBootId keeps boots above the stored ones).</summary>
    private IStore OpenStore(string directory, string deviceId)
    {
        try
        {
            return FileStore.ForDevice(directory, deviceId);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException)
        {
            var path = Path.Combine(directory, LocalSensorsOptionsValidator.StateFileName(deviceId));
            _logger.LogWarning(e, "Local sensor {DeviceId}: state file {Path} is unreadable; set aside as .bad, starting a fresh one", deviceId, path);
            File.Move(path, path + ".bad", overwrite: true);
            return FileStore.ForDevice(directory, deviceId);
        }
    }

    private void StopBoards()
    {
        try
        {
            StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Local sensors did not stop cleanly; readings not yet acknowledged may be lost");
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        LocalBoard[] boards;
        lock (_gate)
        {
            if (_stopped) return;
            _stopped = true;
            boards = [.. _boards];
        }
        await Task.WhenAll(boards.Select(b => b.StopAsync().AsTask())).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
    }
}

/// <summary>The "localSensors" section of /api/status: one entry per sensor with its reads and failures.</summary>
internal sealed class LocalSensorsStatus(LocalSensorService service) : IStatusContributor
{
    public string Section => "localSensors";

    public JsonNode? Snapshot()
    {
        var list = new JsonArray();
        foreach (var board in service.Boards)
        {
            var (reads, failures, lastError, lastReadAt, lastGoodAt) = board.Sensor.Snapshot();
            var core = board.Core;
            list.Add((JsonNode)new JsonObject
            {
                ["deviceId"] = board.Options.DeviceId,
                ["driver"] = board.Options.IsIio ? LocalSensorOptions.Iio : LocalSensorOptions.Gpio,
                ["gpioPin"] = board.Options.GpioPin,
                ["iioDevice"] = board.Options.IsIio ? board.Options.IioDevicePath : null,
                ["connection"] = core.State.ToString(),
                ["bootId"] = core.BootId,
                ["reads"] = reads,
                ["failedReads"] = failures,
                ["lastError"] = lastError,
                ["lastReadAt"] = lastReadAt is { } r ? WireJson.Time(r) : null,
                ["lastGoodReadAt"] = lastGoodAt is { } g ? WireJson.Time(g) : null,
                ["buffered"] = core.Buffered,
            });
        }
        return list;
    }
}
