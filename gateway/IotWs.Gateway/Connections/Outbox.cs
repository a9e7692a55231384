namespace IotWs.Gateway.Connections;

/// <summary>
/// A connection's bounded send queue, drained by one writer. Fan-out messages are droppable:
/// when the queue is full the oldest droppable one goes (counted). Replies are not droppable;
/// a peer that stops reading until even those overflow is reported as stuck.
/// </summary>
public sealed class Outbox
{
    private readonly LinkedList<(byte[] Payload, bool Droppable)> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly int _capacity;
    private readonly object _gate = new();
    private long _dropped;
    private long _droppedSinceProgress;
    private bool _completed;
    private bool _stuck;

    public Outbox(int capacity) => _capacity = capacity;

    public int Capacity => _capacity;
    public long Dropped => Interlocked.Read(ref _dropped);
    public int Count { get { lock (_gate) return _queue.Count; } }
    /// <summary>True once the peer was found not to read (see Stuck).</summary>
    public bool IsStuck { get { lock (_gate) return _stuck; } }

    /// <summary>
    /// Raised once when a full capacity's worth was dropped without the writer taking anything,
    /// or when twice the capacity of undroppable replies piled up. The queued fan-out is discarded then.
    /// </summary>
    public event Action? Stuck;

    /// <summary>Queues a message; false when it was not queued (outbox completed, or a droppable message that lost to a full queue).</summary>
    public bool Enqueue(byte[] payload, bool droppable)
    {
        var raiseStuck = false;
        var add = true;
        lock (_gate)
        {
            if (_completed) return false;
            if (_queue.Count >= _capacity)
            {
                var oldest = _queue.First;
                while (oldest is not null && !oldest.Value.Droppable) oldest = oldest.Next;
                if (oldest is not null)
                {
                    _queue.Remove(oldest);
                    CountDropped(1);
                }
                else if (droppable)
                {
                    // Only replies are queued: the new fan-out message is the one to go.
                    CountDropped(1);
                    add = false;
                }
            }
            if (add) _queue.AddLast((payload, droppable));
            if (!_stuck && (_droppedSinceProgress >= _capacity || _queue.Count >= 2 * _capacity))
            {
                _stuck = true;
                raiseStuck = true;
                // A peer that does not read will not want stale fan-out when (if) it reads again: keep only replies.
                for (var node = _queue.First; node is not null;)
                {
                    var next = node.Next;
                    if (node.Value.Droppable)
                    {
                        _queue.Remove(node);
                        CountDropped(1);
                    }
                    node = next;
                }
            }
            // The semaphore only wakes the writer: keeping it at most 1 stops its count growing with every message.
            if (add && _signal.CurrentCount == 0) _signal.Release();
        }
        if (raiseStuck) Stuck?.Invoke();
        return add;
    }

    /// <summary>Waits for the next message; null once completed and drained.</summary>
    public async ValueTask<byte[]?> DequeueAsync(CancellationToken ct)
    {
        while (true)
        {
            lock (_gate)
            {
                if (_queue.First is { } first)
                {
                    _queue.RemoveFirst();
                    _droppedSinceProgress = 0;
                    return first.Value.Payload;
                }
                if (_completed) return null;
            }
            await _signal.WaitAsync(ct);
        }
    }

    /// <summary>No more messages; the writer drains what is queued and stops.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            if (_signal.CurrentCount == 0) _signal.Release();
        }
    }

    private void CountDropped(int n)
    {
        Interlocked.Add(ref _dropped, n);
        _droppedSinceProgress += n;
    }
}
