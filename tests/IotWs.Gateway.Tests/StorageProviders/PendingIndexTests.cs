using System.Diagnostics;
using IotWs.Gateway.Storage.Sqlite;

namespace IotWs.Gateway.Tests.StorageProviders;

/// <summary>The SQLite store's in-memory index of recent readings: what it keeps once a busy device goes quiet.</summary>
public sealed class PendingIndexTests
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(2);
    private static readonly long MaxDelayTicks = (long)(MaxDelay.TotalSeconds * Stopwatch.Frequency);

    [Fact]
    public void A_busy_device_keeps_its_run_buffers_and_a_quiet_one_gives_them_back()
    {
        var index = new PendingIndex(minRun: 64, MaxDelay);
        long id = 0;
        void Add(int readings, long now)
        {
            for (var i = 0; i < readings; i++)
            {
                id++;
                Assert.Null(index.Find("esp-1", 1, id, (_, _) => -1, (_, _, _) => null));
                index.Add("esp-1", id, id, 1, id, now);
            }
        }

        // Busy: 300 readings in one go, taken because the run is long enough.
        Add(300, now: 0);
        var taken = new List<PendingIndex.DeviceRun>();
        index.Take(budget: 10_000, now: 0, taken);
        var run = Assert.Single(taken);
        index.Written(taken);
        Assert.Equal(0, index.Count);
        Assert.True(run.Entries.Capacity >= 300, $"capacity {run.Entries.Capacity}: a busy device would grow it again at once");

        // Quiet: a few readings that wait the maximum delay; then the device's buffers are released.
        Add(3, now: 10);
        taken.Clear();
        index.Take(budget: 10_000, now: 10 + MaxDelayTicks, taken);
        Assert.Same(run, Assert.Single(taken));
        index.Written(taken);
        Assert.Equal(0, run.Entries.Capacity);
        Assert.True(run.Keys.Capacity < 16, $"keys capacity {run.Keys.Capacity}");

        // And it still answers duplicates from its high-water mark.
        Assert.Null(index.Find("esp-1", 1, id + 1, (_, _) => -1, (_, _, _) => null));
        Assert.Equal(7, index.Find("esp-1", 1, 7, (_, _) => -1, (_, boot, seq) => seq));
    }
}
