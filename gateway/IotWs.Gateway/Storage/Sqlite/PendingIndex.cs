using System.Diagnostics;

namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>
/// The per-device time-index entries and duplicate keys of readings committed recently, kept in memory and
/// written to reading_index / reading_keys later as one sorted run per device. Inserting rows of 1,000
/// interleaved devices straight into a device-keyed B-tree dirties one page per row per commit; a run of
/// N rows of one device dirties one page per N rows (docs/performance.md has the figures).
/// Together with reading_keys it answers "is (device, boot, seq) stored already?" exactly.
/// Used by the writer thread only.
/// </summary>
internal sealed class PendingIndex(int minRun, TimeSpan maxDelay)
{
    private readonly Dictionary<string, DeviceRun> _devices = new(StringComparer.Ordinal);
    // Devices with pending entries in the order their first pending entry arrived (stale entries skipped).
    private readonly Queue<(DeviceRun Run, long FirstId)> _byAge = new();
    // Devices whose run is long enough to merge.
    private readonly Queue<DeviceRun> _ready = new();
    private readonly long _maxDelayTicks = (long)(maxDelay.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Entries not yet written to the per-device tables.</summary>
    public int Count { get; private set; }

    /// <summary>One pending entry: where the reading sits in time and, when it has one, its duplicate key.</summary>
    public readonly record struct Entry(long Id, long Ts, long Boot, long Seq, bool HasKey);

    /// <summary>A device's pending entries and what is known of its stored sequence numbers.</summary>
    public sealed class DeviceRun(string deviceId)
    {
        public string DeviceId { get; } = deviceId;
        public List<Entry> Entries { get; } = [];
        public Dictionary<(long Boot, long Seq), long> Keys { get; } = [];
        /// <summary>boot → highest seq stored (pending or written); -1 when none.</summary>
        public Dictionary<long, long> HighWater { get; } = [];
        public long FirstId { get; set; }
        public long FirstAt { get; set; }
        public bool InReadyQueue { get; set; }
        public bool Taken { get; set; }
        /// <summary>Taken because its oldest entry waited the maximum delay: the device is quiet, not busy.</summary>
        public bool TakenByAge { get; set; }
    }

    /// <summary>
    /// The insert id already stored for (device, boot, seq), or null. Above the boot's high-water mark the answer
    /// is known without I/O; below it the pending keys are checked, then reading_keys through <paramref name="lookup"/>.
    /// </summary>
    public long? Find(string deviceId, long boot, long seq, Func<string, long, long> loadHighWater, Func<string, long, long, long?> lookup)
    {
        var run = Run(deviceId);
        if (!run.HighWater.TryGetValue(boot, out var high))
        {
            high = loadHighWater(deviceId, boot);
            run.HighWater[boot] = high;
        }
        if (seq > high) return null;
        if (run.Keys.TryGetValue((boot, seq), out var id)) return id;
        return lookup(deviceId, boot, seq);
    }

    /// <summary>Records a reading written to the heap in the current transaction. Keyed entries must have been checked with <see cref="Find"/>.</summary>
    public void Add(string deviceId, long id, long ts, long? boot, long? seq, long now)
    {
        var run = Run(deviceId);
        if (run.Entries.Count == 0)
        {
            run.FirstId = id;
            run.FirstAt = now;
            _byAge.Enqueue((run, id));
        }
        var keyed = boot is not null && seq is not null;
        run.Entries.Add(new Entry(id, ts, boot ?? 0, seq ?? 0, keyed));
        if (keyed)
        {
            run.Keys[(boot!.Value, seq!.Value)] = id;
            run.HighWater[boot.Value] = Math.Max(run.HighWater.GetValueOrDefault(boot.Value, -1), seq.Value);
        }
        if (!run.InReadyQueue && run.Entries.Count >= minRun)
        {
            run.InReadyQueue = true;
            _ready.Enqueue(run);
        }
        Count++;
    }

    /// <summary>
    /// Runs to write now: every device whose oldest entry waited the maximum delay, then long-enough runs within
    /// <paramref name="budget"/> entries (so merging keeps pace with ingest without one commit doing it all).
    /// Call <see cref="Written"/> once they are in the transaction.
    /// </summary>
    public void Take(int budget, long now, List<DeviceRun> output)
    {
        while (_byAge.TryPeek(out var head))
        {
            if (head.Run.Entries.Count == 0 || head.Run.FirstId != head.FirstId || head.Run.Taken)
            {
                _byAge.Dequeue();
                continue;
            }
            if (now - head.Run.FirstAt < _maxDelayTicks) break;
            _byAge.Dequeue();
            head.Run.Taken = true;
            head.Run.TakenByAge = true;
            output.Add(head.Run);
            budget -= head.Run.Entries.Count;
        }
        while (budget > 0 && _ready.TryDequeue(out var run))
        {
            run.InReadyQueue = false;
            if (run.Taken || run.Entries.Count < minRun) continue;
            run.Taken = true;
            output.Add(run);
            budget -= run.Entries.Count;
        }
    }

    /// <summary>The taken runs are written (in the transaction about to commit; on failure call <see cref="Reset"/>).</summary>
    public void Written(List<DeviceRun> runs)
    {
        foreach (var run in runs)
        {
            Count -= run.Entries.Count;
            run.Entries.Clear();
            run.Keys.Clear();
            if (run.TakenByAge)
            {
                // A quiet device (its run waited the maximum delay) gives back what a busy spell grew: after a
                // load, 1,000 devices kept 7.5 MB of empty lists and dictionaries. A busy device keeps them.
                run.Entries.Capacity = 0;
                run.Keys.TrimExcess();
                run.TakenByAge = false;
            }
            run.Taken = false;
        }
    }

    /// <summary>Every reading with an id up to this one is in the per-device tables (the rest is pending).</summary>
    public long IndexedThrough(long lastId)
    {
        while (_byAge.TryPeek(out var head) && (head.Run.Entries.Count == 0 || head.Run.FirstId != head.FirstId))
        {
            _byAge.Dequeue();
        }
        return _byAge.TryPeek(out var oldest) ? oldest.FirstId - 1 : lastId;
    }

    /// <summary>Forgets everything (after a failed commit: the store recovers from the heap before the next one).</summary>
    public void Reset()
    {
        _devices.Clear();
        _byAge.Clear();
        _ready.Clear();
        Count = 0;
    }

    private DeviceRun Run(string deviceId)
    {
        if (!_devices.TryGetValue(deviceId, out var run))
        {
            run = new DeviceRun(deviceId);
            _devices[deviceId] = run;
        }
        return run;
    }
}
