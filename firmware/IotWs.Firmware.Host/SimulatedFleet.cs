using IotWs.Firmware.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IotWs.Firmware.Host;

/// <summary>
/// N simulated boards ticked by one loop thread every 50 ms. Boards start staggered over the first
/// reading interval so a large fleet does not connect and read in lockstep.
/// </summary>
public sealed class SimulatedFleet : IAsyncDisposable
{
    private static readonly TimeSpan TickPeriod = TimeSpan.FromMilliseconds(50);

    private readonly SimulatedBoard[] _boards;
    private readonly long[] _startAt;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _loop;
    private int _disposed;

    private SimulatedFleet(SimulatedBoard[] boards, long[] startAt, ILogger logger)
    {
        _boards = boards;
        _startAt = startAt;
        _logger = logger;
        _loop = new Thread(Run) { IsBackground = true, Name = "iotws-simulated-fleet" };
    }

    /// <summary>The boards, in the order of the options' devices.</summary>
    public IReadOnlyList<SimulatedBoard> Boards => _boards;

    /// <summary>Validates the options, creates one board per device and starts ticking them.</summary>
    public static SimulatedFleet Start(SimulatorOptions o, ILoggerFactory? loggers = null) => Start(o, loggers, null);

    /// <summary>As <see cref="Start(SimulatorOptions, ILoggerFactory?)"/>, with a hook to adjust each boot's settings (tests shorten backoff).</summary>
    internal static SimulatedFleet Start(SimulatorOptions o, ILoggerFactory? loggers, Action<DeviceSettings>? tune)
    {
        Validate(o);
        var logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger("IotWs.Firmware.Simulator");
        var boards = new SimulatedBoard[o.Devices.Count];
        var startAt = new long[boards.Length];
        var now = Environment.TickCount64;
        var spreadMs = Math.Min(o.ReadingInterval.TotalMilliseconds, 2000);
        for (var i = 0; i < boards.Length; i++)
        {
            var credential = o.Devices[i];
            IStore store = o.StateDirectory is null ? new InMemoryStore() : FileStore.ForDevice(o.StateDirectory, credential.DeviceId);
            boards[i] = new SimulatedBoard(credential, o, store, logger, StableSeed(credential.DeviceId), tune);
            startAt[i] = now + (long)(spreadMs * i / boards.Length);
        }
        var fleet = new SimulatedFleet(boards, startAt, logger);
        fleet._loop.Start();
        return fleet;
    }

    /// <summary>Stops the loop and closes every board's link.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.Run(_loop.Join).ConfigureAwait(false);
        await Task.WhenAll(_boards.Select(b => b.StopAsync().AsTask())).ConfigureAwait(false);
        _stop.Dispose();
    }

    private void Run()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            var began = Environment.TickCount64;
            for (var i = 0; i < _boards.Length && !token.IsCancellationRequested; i++)
            {
                if (began < _startAt[i]) continue;
                try
                {
                    _boards[i].Tick();
                }
                catch (Exception ex)
                {
                    // One board's bug must not stop the others.
                    _logger.LogError(ex, "{DeviceId}: tick failed", _boards[i].DeviceId);
                }
            }
            var rest = TickPeriod.TotalMilliseconds - (Environment.TickCount64 - began);
            if (rest > 0) token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(rest));
        }
    }

    private static void Validate(SimulatorOptions o)
    {
        var urls = o.EffectiveGatewayUrls;
        if (urls.Count == 0)
            throw new ArgumentException("GatewayUrl or GatewayUrls is required", nameof(o));
        if (urls.Count > DeviceSettings.MaxGatewayUrls)
            throw new ArgumentException($"at most {DeviceSettings.MaxGatewayUrls} gateway URLs", nameof(o));
        foreach (var url in urls)
        {
            if (url.Scheme != "ws" && url.Scheme != "wss")
                throw new ArgumentException($"gateway URL {url} must be a ws:// or wss:// URL", nameof(o));
        }
        var reading = (long)o.ReadingInterval.TotalMilliseconds;
        if (DeviceSettings.CheckReadingInterval(reading) is { } readingError)
            throw new ArgumentException(readingError, nameof(o));
        var heartbeat = (long)o.HeartbeatInterval.TotalMilliseconds;
        if (DeviceSettings.CheckHeartbeatInterval(heartbeat) is { } heartbeatError)
            throw new ArgumentException(heartbeatError, nameof(o));
        if (o.SensorFailureRate is < 0 or > 1 || double.IsNaN(o.SensorFailureRate))
            throw new ArgumentException("SensorFailureRate must be between 0 and 1", nameof(o));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in o.Devices)
        {
            if (string.IsNullOrEmpty(d.DeviceId) || string.IsNullOrEmpty(d.Token))
                throw new ArgumentException("every device needs a deviceId and a token", nameof(o));
            if (!seen.Add(d.DeviceId))
                throw new ArgumentException($"device {d.DeviceId} is listed twice", nameof(o));
        }
    }

    // string.GetHashCode differs per process; a board should behave the same on every run.
    private static int StableSeed(string text)
    {
        unchecked
        {
            var hash = (int)2166136261;
            foreach (var c in text) hash = (hash ^ c) * 16777619;
            return hash;
        }
    }
}
