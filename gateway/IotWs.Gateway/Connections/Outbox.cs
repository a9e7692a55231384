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

    public Outbox(int capacity) => _capacity = capacity;

    public long Dropped => Interlocked.Read(ref _dropped);
    public int Count { get { lock (_gate) return _queue.Count; } }

    /// <summary>Raised (once per overflow) when a full capacity's worth was dropped without the peer reading anything.</summary>
    public event Action? Stuck;

    public bool Enqueue(byte[] payload, bool droppable)
    {
        var stuck = false;
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
                    Dropped1();
                }
                else if (droppable)
                {
                    // Only replies are queued: the new fan-out message is the one to go.
                    Dropped1();
                    add = false;
                }
                // A reply is never dropped; twice the capacity of unread replies means the peer is stuck.
                stuck |= _queue.Count >= 2 * _capacity;
            }
            if (add) _queue.AddLast((payload, droppable));
            stuck |= _droppedSinceProgress >= _capacity;
        }
        if (add) _signal.Release();
        if (stuck) Stuck?.Invoke();
        return true;

        void Dropped1()
        {
            _dropped++;
            _droppedSinceProgress++;
        }
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
        lock (_gate) _completed = true;
        _signal.Release();
    }
}
