using System.Runtime;
using System.Text.Json.Nodes;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Status;
using IotWs.Gateway.Wire;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Observability;

/// <summary>
/// Gives memory back to the Pi after a busy spell. A burst (a fleet replaying after an outage, a connection storm)
/// grows the GC heap, and an idle gateway allocates too little for the GC to shrink it again, so the memory stays
/// resident for hours. Once the gateway has allocated at least <see cref="BusyBytes"/> since the last trim and then
/// less than <see cref="QuietBytes"/> over one <see cref="Period"/>, it runs one aggressive compacting collection,
/// which returns the heap's free pages to the operating system. A steady load never looks quiet, so it is never
/// paused; at most one trim per <see cref="MinimumGap"/>. Off with Gateway:TrimMemoryWhenIdle=false.
/// </summary>
internal sealed partial class IdleMemoryTrim(IOptions<GatewayOptions> options, TimeProvider time, ILogger<IdleMemoryTrim> logger) : BackgroundService
{
    internal static readonly TimeSpan Period = TimeSpan.FromSeconds(5);
    internal static readonly TimeSpan MinimumGap = TimeSpan.FromMinutes(1);
    /// <summary>Allocated since the last trim that makes one worth its pause (sixteen 4 MB gen0 budgets).</summary>
    internal const long BusyBytes = 64L << 20;
    /// <summary>Allocated over one period that still counts as quiet (half a 4 MB gen0 budget).</summary>
    internal const long QuietBytes = 2L << 20;

    private long _trims;
    private long _lastTrimAt = long.MinValue;
    private long _lastFreedBytes;

    public bool Enabled => options.Value.TrimMemoryWhenIdle;
    public long Trims => Interlocked.Read(ref _trims);
    public DateTimeOffset? LastTrimAt => Interlocked.Read(ref _lastTrimAt) is var t && t == long.MinValue ? null : DateTimeOffset.FromUnixTimeMilliseconds(t);
    public long LastFreedBytes => Interlocked.Read(ref _lastFreedBytes);

    /// <summary>
    /// The rule: a trim once the allocations since the last one make it worth a pause (busy), the last period was
    /// quiet, and the last trim is at least <see cref="MinimumGap"/> ago.
    /// </summary>
    internal static bool ShouldTrim(long allocatedNow, long allocatedPeriodAgo, long allocatedAtTrim, TimeSpan sinceTrim) =>
        allocatedNow - allocatedPeriodAgo < QuietBytes && allocatedNow - allocatedAtTrim >= BusyBytes && sinceTrim >= MinimumGap;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled) return;
        using var timer = new PeriodicTimer(Period, time);
        var atTrim = GC.GetTotalAllocatedBytes();
        var previous = atTrim;
        var lastTrim = time.GetUtcNow() - MinimumGap;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = GC.GetTotalAllocatedBytes();
                var trim = ShouldTrim(now, previous, atTrim, time.GetUtcNow() - lastTrim);
                previous = now;
                if (!trim) continue;
                var before = Environment.WorkingSet;
                var started = time.GetTimestamp();
                // Aggressive: compacts every generation (the large object heap too) and decommits what it freed.
                GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                var after = Environment.WorkingSet;
                lastTrim = time.GetUtcNow();
                Interlocked.Exchange(ref _lastFreedBytes, Math.Max(0, before - after));
                Interlocked.Exchange(ref _lastTrimAt, lastTrim.ToUnixTimeMilliseconds());
                Interlocked.Increment(ref _trims);
                Trimmed(logger, (now - atTrim) >> 20, before >> 20, after >> 20, time.GetElapsedTime(started).TotalMilliseconds);
                atTrim = previous = GC.GetTotalAllocatedBytes();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(1901, LogLevel.Information, "Quiet after {AllocatedMiB} MiB of allocations: gave memory back, {BeforeMiB} MiB resident before, {AfterMiB} MiB after ({Milliseconds:0} ms)")]
    private static partial void Trimmed(ILogger logger, long allocatedMiB, long beforeMiB, long afterMiB, double milliseconds);
}

/// <summary>The "memory" section of /api/status: what the process holds, the GC heap, and the idle trims.</summary>
internal sealed class MemoryStatus(IdleMemoryTrim trim) : IStatusContributor
{
    public string Section => "memory";

    public JsonNode? Snapshot()
    {
        var gc = GC.GetGCMemoryInfo();
        return new JsonObject
        {
            ["residentBytes"] = Environment.WorkingSet,
            ["gcHeapBytes"] = gc.HeapSizeBytes,
            ["gcCommittedBytes"] = gc.TotalCommittedBytes,
            // Of the heap: large objects (≥ 85 KB) and pinned buffers (Kestrel's socket memory pool), as of the last GC.
            ["gcLargeObjectBytes"] = gc.GenerationInfo.Length > 3 ? gc.GenerationInfo[3].SizeAfterBytes : 0,
            ["gcPinnedBytes"] = gc.GenerationInfo.Length > 4 ? gc.GenerationInfo[4].SizeAfterBytes : 0,
            ["trimWhenIdle"] = trim.Enabled,
            ["trims"] = trim.Trims,
            ["lastTrimAt"] = trim.LastTrimAt is { } t ? WireJson.Time(t) : null,
            ["lastTrimFreedBytes"] = trim.LastFreedBytes,
        };
    }
}
