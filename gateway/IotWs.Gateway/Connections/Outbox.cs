using System.Buffers;

namespace IotWs.Gateway.Connections;

/// <summary>One message waiting in an outbox: its bytes, whether it may be dropped, and whether its array is pooled.</summary>
public readonly struct OutboxMessage
{
    private OutboxMessage(byte[] array, int length, bool droppable, bool pooled)
    {
        Array = array;
        Length = length;
        Droppable = droppable;
        Pooled = pooled;
    }

    /// <summary>A reply (never dropped) whose array the outbox owns: rented from <see cref="ArrayPool{T}.Shared"/>, returned once sent.</summary>
    public static OutboxMessage PooledReply(byte[] rented, int length) => new(rented, length, droppable: false, pooled: true);

    /// <summary>A message in an array of its own (a fan-out payload is one array shared by every subscriber).</summary>
    public static OutboxMessage Of(byte[] payload, bool droppable) => new(payload, payload.Length, droppable, pooled: false);

    public byte[] Array { get; }
    public int Length { get; }
    public bool Droppable { get; }
    public bool Pooled { get; }
    public ReadOnlyMemory<byte> Memory => Array.AsMemory(0, Length);

    /// <summary>Gives a pooled array back; the message must not be used afterwards.</summary>
    internal void Release()
    {
        if (Pooled) ArrayPool<byte>.Shared.Return(Array);
    }
}

/// <summary>
/// A connection's bounded send queue and the one-send-at-a-time rule of its socket. A message goes straight to the
/// socket when nothing is queued or being sent (<see cref="TryStartDirect"/>: no hop to the writer); otherwise it
/// is queued and the connection's writer sends it. Fan-out messages are droppable: when the queue holds Capacity
/// messages, or max(1 MiB, Capacity KiB) of fan-out, the oldest droppable one goes (counted). Replies are not droppable; a peer
/// that stops reading until even those pile up is reported as stuck.
/// </summary>
public sealed class Outbox
{
    private const long MinByteBudget = 1 << 20;
    private readonly LinkedList<OutboxMessage> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly int _capacity;
    private readonly long _byteBudget;
    private readonly object _gate = new();
    private long _dropped;
    private long _droppedSinceProgress;
    private long _droppedBytesSinceProgress;
    private long _droppableBytes;
    private bool _completed;
    private bool _stuck;
    // One send at a time on a WebSocket: true while a direct send or the writer's send is in progress.
    private bool _sending;
    // A direct send that did not complete at once: the writer waits for it before sending anything else.
    private Task? _handedOver;

    public Outbox(int capacity)
    {
        _capacity = capacity;
        // Messages are counted, but large fan-out messages (30 KB publishes, stream chunks) must not hold Capacity
        // times their size: fan-out beyond max(1 MiB, Capacity KiB) queued is dropped the same way.
        _byteBudget = Math.Max(MinByteBudget, capacity * 1024L);
    }

    public int Capacity => _capacity;
    public long Dropped => Interlocked.Read(ref _dropped);
    public int Count { get { lock (_gate) return _queue.Count; } }
    /// <summary>True once the peer was found not to read (see Stuck).</summary>
    public bool IsStuck { get { lock (_gate) return _stuck; } }

    /// <summary>
    /// Raised once when the peer is found not to read: a full capacity's worth (Capacity messages, or the byte budget)
    /// was dropped without a send completing, twice the capacity of undroppable replies piled up, or
    /// <see cref="MarkStuck"/> (a send that did not complete in time). The queued fan-out is discarded then.
    /// </summary>
    public event Action? Stuck;

    /// <summary>
    /// Claims the socket for a send by the caller when nothing is queued or being sent; the caller then sends and
    /// calls <see cref="DirectDone"/> (completed at once) or <see cref="HandOver"/> (still in progress).
    /// </summary>
    public bool TryStartDirect()
    {
        lock (_gate)
        {
            if (_completed || _sending || _queue.First is not null) return false;
            _sending = true;
            return true;
        }
    }

    /// <summary>The direct send completed; wakes the writer when messages were queued meanwhile.</summary>
    public void DirectDone()
    {
        lock (_gate)
        {
            _sending = false;
            _droppedSinceProgress = 0;
            _droppedBytesSinceProgress = 0;
            if ((_queue.First is not null || _completed) && _signal.CurrentCount == 0) _signal.Release();
        }
    }

    /// <summary>The direct send is still in progress: the writer waits for it, then goes on with the queue.</summary>
    public void HandOver(Task pending)
    {
        lock (_gate)
        {
            _handedOver = pending;
            if (_signal.CurrentCount == 0) _signal.Release();
        }
    }

    /// <summary>Queues a message; false when it was not queued (outbox completed, or a droppable message that lost to a full queue).</summary>
    public bool Enqueue(OutboxMessage message)
    {
        var raiseStuck = false;
        var add = true;
        lock (_gate)
        {
            if (_completed)
            {
                message.Release();
                return false;
            }
            if (message.Droppable)
            {
                // By bytes: the oldest fan-out goes until this one fits (a message over the budget alone is still queued).
                while (_droppableBytes > 0 && _droppableBytes + message.Length > _byteBudget && DropOldestDroppable())
                {
                }
            }
            if (_queue.Count >= _capacity && !DropOldestDroppable() && message.Droppable)
            {
                // Only replies are queued: the new fan-out message is the one to go.
                CountDropped(message.Length);
                add = false;
            }
            if (add)
            {
                _queue.AddLast(message);
                if (message.Droppable) _droppableBytes += message.Length;
            }
            if (!_stuck && (_droppedSinceProgress >= _capacity || _droppedBytesSinceProgress >= _byteBudget || _queue.Count >= 2 * _capacity))
            {
                raiseStuck = BecomeStuck();
            }
            // The semaphore only wakes the writer: keeping it at most 1 stops its count growing with every message.
            if (add && !_sending && _signal.CurrentCount == 0) _signal.Release();
        }
        if (!add && message.Pooled) message.Release();
        if (raiseStuck) Stuck?.Invoke();
        return add;
    }

    /// <summary>Marks the peer as not reading (e.g. a send blocked past its time limit) and raises <see cref="Stuck"/> once.</summary>
    public void MarkStuck()
    {
        bool raise;
        lock (_gate) raise = !_stuck && BecomeStuck();
        if (raise) Stuck?.Invoke();
    }

    /// <summary>
    /// Waits for the writer's next piece of work: a handed-over direct send to wait for, or a message to send (the
    /// socket is then the writer's until <see cref="Sent"/>); <see cref="OutboxWork.End"/> once completed and drained.
    /// </summary>
    public async ValueTask<OutboxWork> NextAsync(CancellationToken ct)
    {
        while (true)
        {
            lock (_gate)
            {
                if (_handedOver is { } pending)
                {
                    _handedOver = null;
                    return new OutboxWork(pending);
                }
                if (!_sending)
                {
                    if (_queue.First is { } first)
                    {
                        _queue.RemoveFirst();
                        if (first.Value.Droppable) _droppableBytes -= first.Value.Length;
                        _sending = true;
                        return new OutboxWork(first.Value);
                    }
                    if (_completed) return default;
                }
            }
            await _signal.WaitAsync(ct);
        }
    }

    /// <summary>The writer finished a send (of a message it took, or a handed-over one); frees the message's array.</summary>
    public void Sent(OutboxWork work)
    {
        lock (_gate)
        {
            _sending = false;
            _droppedSinceProgress = 0;
            _droppedBytesSinceProgress = 0;
        }
        if (work.Message is { } message) message.Release();
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

    private bool BecomeStuck()
    {
        _stuck = true;
        // A peer that does not read will not want stale fan-out when (if) it reads again: keep only replies.
        for (var node = _queue.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.Droppable) Drop(node);
            node = next;
        }
        return true;
    }

    private bool DropOldestDroppable()
    {
        var node = _queue.First;
        while (node is not null && !node.Value.Droppable) node = node.Next;
        if (node is null) return false;
        Drop(node);
        return true;
    }

    private void Drop(LinkedListNode<OutboxMessage> node)
    {
        _queue.Remove(node);
        _droppableBytes -= node.Value.Length;
        CountDropped(node.Value.Length);
        node.Value.Release();
    }

    private void CountDropped(int bytes)
    {
        Interlocked.Increment(ref _dropped);
        _droppedSinceProgress++;
        _droppedBytesSinceProgress += bytes;
    }
}

/// <summary>What the connection's writer does next: send <see cref="Message"/>, or wait for a direct send it took over.</summary>
public readonly struct OutboxWork
{
    public OutboxWork(OutboxMessage message) => Message = message;
    public OutboxWork(Task handedOver) => HandedOver = handedOver;

    public OutboxMessage? Message { get; }
    public Task? HandedOver { get; }
    /// <summary>Completed and drained: the writer stops.</summary>
    public bool End => Message is null && HandedOver is null;
}
