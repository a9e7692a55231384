using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Readings;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Alerts;

/// <summary>
/// Judges each device's sensor over the last SensorWindow instead of since boot: failed reads (the rise of
/// the heartbeat's sensorErrors, across reboots) against all reads (failed + readings stored). A sensor is
/// flagged when at least SensorMinFailures reads failed and their share is above SensorFailureRate.
/// Readings are counted in steps of 1/60 of the window (a minute of the default hour), so a device's memory is 61
/// counters whatever its rate: one timestamp per reading held 3,600 of them per device at 1 reading/s, 58 MB for
/// 1,000 devices. The count covers the window and at most one step more.
/// </summary>
internal sealed class SensorHealthWindow : IHostedService, IDisposable
{
    /// <summary>A heartbeat's failure counter: errors since the boot it belongs to.</summary>
    private readonly record struct Sample(DateTimeOffset At, long? BootId, long Errors);

    /// <summary>What is known of one device; guarded by locking the instance.</summary>
    private sealed class DeviceWindow
    {
        // The newest sample at or before the window's start stays as the baseline of the first rise.
        public List<Sample> Samples { get; } = [];
        public ReadingSteps? Readings { get; set; }
    }

    /// <summary>Readings per step, in a ring of <see cref="Steps"/> + 1 counters: the window's steps and the one it starts in.</summary>
    internal sealed class ReadingSteps(TimeSpan window)
    {
        public const int Steps = 60;
        private readonly long _stepTicks = Math.Max(1, window.Ticks / Steps);
        private readonly long[] _counts = new long[Steps + 1];
        private long _newest = long.MinValue;

        public void Add(DateTimeOffset at)
        {
            var step = at.UtcTicks / _stepTicks;
            if (step > _newest)
            {
                // Steps skipped since the newest one are empty; a ring slot is reused once its step left the window.
                for (var s = Math.Max(step - Steps, _newest + 1); s <= step; s++) _counts[s % _counts.Length] = 0;
                _newest = step;
            }
            else if (step <= _newest - _counts.Length)
            {
                return; // older than the ring (a clock step back): outside any window that ends now
            }
            _counts[step % _counts.Length]++;
        }

        /// <summary>Readings from the step holding <paramref name="start"/> on.</summary>
        public long CountSince(DateTimeOffset start)
        {
            if (_newest == long.MinValue) return 0;
            long total = 0;
            for (var s = Math.Max(start.UtcTicks / _stepTicks, _newest - Steps); s <= _newest; s++) total += _counts[s % _counts.Length];
            return total;
        }
    }

    private readonly Dictionary<string, DeviceWindow> _devices = new(StringComparer.Ordinal);
    private readonly GatewayEvents _events;
    private readonly AlertOptions _options;
    private readonly TimeProvider _time;

    public SensorHealthWindow(GatewayEvents events, IOptions<AlertOptions> options, TimeProvider time)
    {
        _events = events;
        _options = options.Value;
        _time = time;
        events.HeartbeatReceived += OnHeartbeat;
        events.ReadingStored += OnReading;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void OnHeartbeat(ClientSession session, JsonElement message)
    {
        if (!session.IsDevice || session.DeviceId is not { } deviceId) return;
        if (!message.TryGetProperty(Fields.SensorErrors, out var value) || !value.TryGetInt64(out var errors) || errors < 0) return;
        Record(deviceId, session.BootId, errors);
    }

    /// <summary>Adds a heartbeat's sensorErrors for this boot (the heartbeat handler and tests).</summary>
    public void Record(string deviceId, long? bootId, long errors)
    {
        var now = _time.GetUtcNow();
        var window = WindowOf(deviceId);
        lock (window)
        {
            window.Samples.Add(new Sample(now, bootId, errors));
            Prune(window, now);
        }
    }

    private void OnReading(StoredReading reading)
    {
        var now = _time.GetUtcNow();
        var window = WindowOf(reading.DeviceId);
        lock (window)
        {
            (window.Readings ??= new ReadingSteps(_options.SensorWindow)).Add(now);
        }
    }

    /// <summary>The judgement for one device; null when it has sent neither a heartbeat nor a reading.</summary>
    public SensorJudgement? Judge(string deviceId)
    {
        DeviceWindow? window;
        lock (_devices)
        {
            if (!_devices.TryGetValue(deviceId, out window)) return null;
        }
        var now = _time.GetUtcNow();
        lock (window)
        {
            Prune(window, now);
            long failed = 0;
            for (var i = 1; i < window.Samples.Count; i++)
            {
                var (before, after) = (window.Samples[i - 1], window.Samples[i]);
                // A new boot starts its counter at zero: all of its errors are new.
                failed += after.BootId == before.BootId && after.Errors >= before.Errors ? after.Errors - before.Errors
                    : after.BootId != before.BootId ? after.Errors : 0;
            }
            var reads = failed + (window.Readings?.CountSince(now - _options.SensorWindow) ?? 0);
            var rate = reads == 0 ? 0 : (double)failed / reads;
            var flagged = failed >= _options.SensorMinFailures && rate > _options.SensorFailureRate;
            return new SensorJudgement(deviceId, failed, reads, rate, flagged);
        }
    }

    public IReadOnlyList<SensorJudgement> JudgeAll()
    {
        string[] ids;
        lock (_devices) ids = [.. _devices.Keys];
        return [.. ids.Order(StringComparer.Ordinal).Select(Judge).OfType<SensorJudgement>()];
    }

    /// <summary>GET /api/alerts/sensors: the window, the threshold and one judgement per device.</summary>
    public JsonObject ToJson() => new()
    {
        ["windowSeconds"] = (long)_options.SensorWindow.TotalSeconds,
        ["failureRate"] = _options.SensorFailureRate,
        ["minFailures"] = _options.SensorMinFailures,
        ["devices"] = new JsonArray([.. JudgeAll().Select(j => (JsonNode)j.ToJson())]),
    };

    private DeviceWindow WindowOf(string deviceId)
    {
        lock (_devices)
        {
            if (!_devices.TryGetValue(deviceId, out var window))
            {
                window = new DeviceWindow();
                _devices[deviceId] = window;
            }
            return window;
        }
    }

    private void Prune(DeviceWindow window, DateTimeOffset now)
    {
        var start = now - _options.SensorWindow;
        // Keep one sample at or before the start: the baseline the window's first rise is measured from.
        var firstInside = window.Samples.FindIndex(s => s.At > start);
        var drop = firstInside < 0 ? window.Samples.Count - 1 : firstInside - 1;
        if (drop > 0) window.Samples.RemoveRange(0, drop);
    }

    public void Dispose()
    {
        _events.HeartbeatReceived -= OnHeartbeat;
        _events.ReadingStored -= OnReading;
    }
}

/// <summary>One device's sensor over the window: failed reads, all reads, their share, and whether that is too many.</summary>
internal sealed record SensorJudgement(string DeviceId, long FailedReads, long Reads, double Rate, bool Flagged)
{
    public JsonObject ToJson() => new()
    {
        [Fields.DeviceId] = DeviceId,
        ["failedReads"] = FailedReads,
        ["reads"] = Reads,
        ["rate"] = Math.Round(Rate, 4),
        ["flagged"] = Flagged,
    };
}
