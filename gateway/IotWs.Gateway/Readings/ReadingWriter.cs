using System.Diagnostics;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Storage;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Readings;

/// <summary>
/// The readings pipeline: a bounded queue, ONE writer thread committing groups, and an after-commit stage that
/// answers every request (acks) and then fans the stored readings out. Nothing is acknowledged before its commit.
/// Group commit: what wears an SD card is the number of commits, not their size, so a trickle of readings is
/// committed at most once per Storage:CommitInterval (a reading after a quiet spell at once). A commit starts as
/// soon as the previous one is done when Storage:CommitBatchSize readings wait, or when a waiting request
/// <see cref="StoreRequest.FollowsAck">follows its connection's previous ack</see> within <see cref="FollowWindow"/>,
/// as the connection's request before it did: that client is waiting for acks to send more (a window-1 replay, a busy
/// fleet), and holding it for the interval would cap it at window ÷ interval.
/// </summary>
public sealed class ReadingWriter : IHostedService
{
    private readonly IReadingStore _store;
    private readonly StoreBatch _rows = new();
    private readonly ReadingFanout _fanout;
    private readonly ILogger<ReadingWriter> _logger;
    private readonly QueueBudget _budget;
    private readonly int _batchSize;
    private readonly long _intervalTicks;
    /// <summary>
    /// A request that arrives this soon after its connection's previous ack was sent because of that ack; one that
    /// arrives later is on the device's own clock. Measured (docs/performance.md): with the whole interval as the window,
    /// 10 devices each sending every 200 ms were committed reading by reading (48 commits/s, 8.3 KB written per reading
    /// against 1.1 KB); with 50 ms, 11 commits/s and 2.3 KB; with 50 ms twice in a row (a device's own clock rarely
    /// lands there twice), 4 commits/s and 1.1 KB, as before the rule, while window-limited clients keep their throughput.
    /// </summary>
    internal static readonly TimeSpan FollowWindow = TimeSpan.FromMilliseconds(50);
    private readonly long _followTicks;
    private readonly object _gate = new();
    private readonly Queue<StoreRequest> _queue = new();
    // Committed groups waiting for the after-commit stage (at most MaxCommitted: the writer waits when acks lag).
    private readonly Queue<List<StoreRequest>> _committed = new();
    private const int MaxCommitted = 4;
    private bool _writerFinished;
    private readonly TaskCompletionSource _writerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _acksDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private const int BacklogFactor = 4;
    private long _lastCommitStart = long.MinValue / 2;
    private int _queuedWeight;
    private int _wakeAt = int.MaxValue;
    // A request that follows an ack is queued: the writer commits as soon as it is free.
    private bool _followerQueued;
    private bool _completed;
    private Thread? _thread;
    private Thread? _ackThread;
    private long _commits;
    private long _stored;
    private long _duplicates;
    private long _refused;
    private long _failed;
    private long _events;
    private long _lastCommitMicros;
    private long _commitMicros;
    private int _lastCommitRows;
    private readonly Observability.GatewayMeter _meter;

    public ReadingWriter(IReadingStore store, ReadingFanout fanout, IOptions<GatewayOptions> options, ILogger<ReadingWriter> logger, Observability.GatewayMeter meter)
    {
        _meter = meter;
        _store = store;
        _fanout = fanout;
        _logger = logger;
        var storage = options.Value.Storage;
        _budget = new QueueBudget(storage.QueueCapacity);
        _batchSize = storage.CommitBatchSize;
        _intervalTicks = (long)(storage.CommitInterval.TotalSeconds * Stopwatch.Frequency);
        _followTicks = Math.Min(_intervalTicks, (long)(FollowWindow.TotalSeconds * Stopwatch.Frequency));
    }

    /// <summary>
    /// Queues a request; waits while the queue holds Storage:QueueCapacity readings (the caller's read loop pauses).
    /// Its completion runs after commit. Throws <see cref="StoreClosedException"/> once the gateway is stopping.
    /// </summary>
    public async ValueTask EnqueueAsync(StoreRequest request, CancellationToken ct)
    {
        var slots = Slots(request);
        await _budget.TakeAsync(slots, ct);
        lock (_gate)
        {
            if (!_completed)
            {
                request.EnqueuedAt = Stopwatch.GetTimestamp();
                request.WithinFollowWindow = request.PreviousAckAt != 0 && request.EnqueuedAt - request.PreviousAckAt < _followTicks;
                request.FollowsAck = request.WithinFollowWindow && request.PreviousFollowedAck;
                _queue.Enqueue(request);
                _queuedWeight += request.Weight;
                if (request.FollowsAck) _followerQueued = true;
                // While the writer gathers a group it sleeps until the group is full, its time is up, or a client waits on it.
                if (_queuedWeight >= _wakeAt || (request.FollowsAck && _wakeAt != int.MaxValue))
                {
                    _wakeAt = int.MaxValue;
                    Monitor.Pulse(_gate);
                }
                return;
            }
        }
        _budget.Return(slots);
        throw new StoreClosedException();
    }

    /// <summary>Counters for /api/status and the benchmarks.</summary>
    public WriterStats Stats => new(
        Interlocked.Read(ref _commits), Interlocked.Read(ref _stored), Interlocked.Read(ref _duplicates),
        Interlocked.Read(ref _refused), Interlocked.Read(ref _failed), Interlocked.Read(ref _events),
        _budget.InUse, _budget.Waiting, Interlocked.Read(ref _lastCommitMicros) / 1000.0, Volatile.Read(ref _lastCommitRows),
        Interlocked.Read(ref _commitMicros) / 1e6);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Recovery runs before the first commit; a broken database stops the start with its error.
        _store.Open();
        _thread = new Thread(WriteLoop) { IsBackground = true, Name = "readings-writer" };
        _thread.Start();
        // Its own thread too: on the thread pool, acks would queue behind thousands of connections' work items.
        _ackThread = new Thread(AckLoop) { IsBackground = true, Name = "readings-acks" };
        _ackThread.Start();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _completed = true;
            Monitor.PulseAll(_gate);
        }
        try
        {
            // Drain: everything queued is committed and answered before the gateway stops.
            await Task.WhenAll(_writerDone.Task, _acksDone.Task).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            ReadingsLog.DrainTimedOut(_logger, _budget.InUse);
        }
    }


    private int Slots(StoreRequest request) => Math.Min(request.Weight, _budget.Capacity);

    private void WriteLoop()
    {
        try
        {
            var batch = new List<StoreRequest>();
            while (Take(batch))
            {
                Commit(batch);
                // Waits when the after-commit stage lags: back-pressure reaches the queue, never memory.
                lock (_committed)
                {
                    while (_committed.Count >= MaxCommitted) Monitor.Wait(_committed);
                    _committed.Enqueue(batch);
                    Monitor.PulseAll(_committed);
                }
                batch = new List<StoreRequest>(batch.Capacity);
            }
            try
            {
                _store.Flush();
            }
            catch (Exception e)
            {
                ReadingsLog.FlushFailed(_logger, e);
            }
        }
        catch (Exception e)
        {
            ReadingsLog.WriterFailed(_logger, e);
        }
        finally
        {
            lock (_committed)
            {
                _writerFinished = true;
                Monitor.PulseAll(_committed);
            }
            _writerDone.TrySetResult();
        }
    }

    /// <summary>
    /// Gathers the next group: waits for a first request, then until the group is full, an interval has passed since
    /// the last commit started, or a request that follows an ack is waiting.
    /// </summary>
    /// <remarks>Chosen by measurement (docs/performance.md, "Commit rule"): "at most once per interval" alone capped 100 devices
    /// × window 8 at 3,200/s and a window-1 client at 4/s; "commit at once when readings waited through the previous commit"
    /// did not lift either (the next readings arrive after the commit, in answer to its acks); following acks lifts both and
    /// leaves a 50 readings/s trickle from 100 devices at 4 commits/s.</remarks>
    private bool Take(List<StoreRequest> batch)
    {
        lock (_gate)
        {
            while (_queue.Count == 0)
            {
                if (_completed) return false;
                _wakeAt = 1;
                Monitor.Wait(_gate);
            }
            // Pacing uses the monotonic clock on purpose: a fake TimeProvider in tests must not hold acks back.
            var deadline = _lastCommitStart + _intervalTicks;
            var rows = 0;
            while (true)
            {
                // CommitBatchSize waiting readings start a commit; a backlog (the writer fell behind) is taken in larger
                // groups, up to 4x that: fewer fsyncs and cheaper merges per reading.
                while (rows < BacklogFactor * _batchSize && _queue.TryDequeue(out var request))
                {
                    batch.Add(request);
                    rows += request.Weight;
                    _queuedWeight -= request.Weight;
                }
                var now = Stopwatch.GetTimestamp();
                if (rows >= _batchSize || _completed || now >= deadline || _followerQueued)
                {
                    _lastCommitStart = now;
                    // One left behind by the group limit keeps the next commit immediate (it is a backlog anyway).
                    _followerQueued = _followerQueued && _queue.Count > 0;
                    return true;
                }
                var remaining = deadline - now;
                _wakeAt = _batchSize - rows;
                Monitor.Wait(_gate, TimeSpan.FromSeconds((double)remaining / Stopwatch.Frequency));
                _wakeAt = int.MaxValue;
            }
        }
    }

    private void Commit(List<StoreRequest> batch)
    {
        var work = false;
        var rows = 0;
        foreach (var request in batch)
        {
            if (request.HasWork) work = true;
            rows += request.Readings.Count;
        }
        if (!work) return;
        var started = Stopwatch.GetTimestamp();
        var committed = false;
        try
        {
            _rows.Commit(_store, batch);
            committed = true;
        }
        catch (Exception e)
        {
            ReadingsLog.CommitFailed(_logger, e, batch.Count);
            foreach (var request in batch)
            {
                request.Fail(ErrorCodes.InternalError, "The gateway could not store this reading (storage error): nothing was stored, send it again.");
            }
        }
        CommitEnded(Stopwatch.GetElapsedTime(started), rows, committed);
    }

    /// <summary>Every commit (or failed attempt) ends here, once, with how long it took: the place for commit metrics.</summary>
    private void CommitEnded(TimeSpan duration, int rows, bool committed)
    {
        if (committed) Interlocked.Increment(ref _commits);
        Interlocked.Exchange(ref _lastCommitMicros, (long)duration.TotalMicroseconds);
        Interlocked.Add(ref _commitMicros, (long)duration.TotalMicroseconds);
        _meter.CommitFinished(duration);
        Volatile.Write(ref _lastCommitRows, rows);
    }

    private void AckLoop()
    {
        try
        {
            while (true)
            {
                List<StoreRequest> batch;
                lock (_committed)
                {
                    while (_committed.Count == 0 && !_writerFinished) Monitor.Wait(_committed);
                    if (!_committed.TryDequeue(out batch!)) return;
                    Monitor.PulseAll(_committed);
                }
                var slots = 0;
                // Acks first: fan-out must not delay them.
                foreach (var request in batch)
                {
                    slots += Slots(request);
                    Count(request);
                    try
                    {
                        request.Completion.Completed(request);
                    }
                    catch (Exception e)
                    {
                        ReadingsLog.CompletionFailed(_logger, e);
                    }
                }
                _fanout.Committed(batch);
                _budget.Return(slots);
            }
        }
        finally
        {
            _acksDone.TrySetResult();
        }
    }

    private void Count(StoreRequest request)
    {
        foreach (var r in request.Readings)
        {
            switch (r.Status)
            {
                case EntryStatus.Stored: Interlocked.Increment(ref _stored); break;
                case EntryStatus.Duplicate: Interlocked.Increment(ref _duplicates); break;
                case EntryStatus.Refused: Interlocked.Increment(ref _refused); break;
                case EntryStatus.Failed: Interlocked.Increment(ref _failed); break;
            }
        }
        if (request.Event is { Status: EntryStatus.Stored }) Interlocked.Increment(ref _events);
    }
}

/// <summary>Counters of the readings pipeline.</summary>
public sealed record WriterStats(long Commits, long Stored, long Duplicates, long Refused, long Failed, long Events, int Queued, int WaitingWriters, double LastCommitMs, int LastCommitRows, double CommitSeconds);

/// <summary>The gateway is stopping and takes no more readings (the client will send them again after reconnecting).</summary>
public sealed class StoreClosedException() : Exception("The gateway is shutting down and stores nothing more.");
