using System.Globalization;
using System.Runtime.InteropServices;
using IotWs.Firmware.Host;
using IotWs.Simulator;
using Microsoft.Extensions.Logging;

var parsed = SimulatorArguments.Parse(args, out var error, out var help);
if (help)
{
    Console.WriteLine(SimulatorArguments.Usage);
    return 0;
}
if (parsed is null)
{
    Console.Error.WriteLine("error: " + error);
    Console.Error.WriteLine(SimulatorArguments.Usage);
    return 2;
}

string[] lines;
try
{
    lines = File.ReadAllLines(parsed.TokensFile);
}
catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: cannot read {parsed.TokensFile}: {ex.Message}");
    return 2;
}
var devices = DeviceCredentialsFile.Parse(lines, out error);
if (devices is null)
{
    Console.Error.WriteLine($"error: {parsed.TokensFile}: {error}");
    return 2;
}

using var loggers = LoggerFactory.Create(b => b
    .AddSimpleConsole(o =>
    {
        o.SingleLine = true;
        o.TimestampFormat = "HH:mm:ss ";
    })
    .SetMinimumLevel(parsed.Verbose ? LogLevel.Information : LogLevel.Warning));

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // Let the fleet close its links with 1001 instead of dying mid-frame.
    e.Cancel = true;
    stop.Cancel();
};
// systemd and container runtimes stop with SIGTERM: same clean shutdown.
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
{
    ctx.Cancel = true;
    stop.Cancel();
});

var fleet = SimulatedFleet.Start(new SimulatorOptions
{
    GatewayUrls = parsed.Urls,
    Devices = devices,
    ReadingInterval = parsed.Interval,
    HeartbeatInterval = parsed.Heartbeat,
    SensorFailureRate = parsed.SensorFailureRate,
    StateDirectory = parsed.StateDirectory,
    TlsPin = parsed.TlsPin,
}, loggers);
Console.WriteLine($"simulating {devices.Count} boards against {string.Join(", ", parsed.Urls)} (Ctrl+C stops)");

var progressEvery = TimeSpan.FromSeconds(5);
var nextProgress = DateTime.UtcNow + progressEvery;
var nextDrop = parsed.DropLinkEvery is { } every ? DateTime.UtcNow + every : DateTime.MaxValue;
try
{
    while (!stop.IsCancellationRequested)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(250), stop.Token);
        var now = DateTime.UtcNow;
        if (now >= nextDrop)
        {
            foreach (var board in fleet.Boards) board.DropLink();
            Console.WriteLine($"{Stamp()} dropped every board's link");
            nextDrop = now + parsed.DropLinkEvery!.Value;
        }
        if (now >= nextProgress)
        {
            Console.WriteLine(Progress(fleet));
            nextProgress = now + progressEvery;
        }
    }
}
catch (OperationCanceledException)
{
    // Ctrl+C.
}

await fleet.DisposeAsync();
Console.WriteLine(Progress(fleet) + " (stopped)");
return 0;

static string Stamp() => DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture);

static string Progress(SimulatedFleet fleet)
{
    var b = fleet.Boards;
    return $"{Stamp()} boards running {b.Count(x => x.IsRunning)}/{b.Count} · taken {b.Sum(x => x.ReadingsTaken)} · acked {b.Sum(x => x.ReadingsAcked)} · buffered {b.Sum(x => x.Buffered)} · dropped {b.Sum(x => x.ReadingsDropped)}";
}
