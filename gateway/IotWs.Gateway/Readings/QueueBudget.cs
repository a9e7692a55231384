namespace IotWs.Gateway.Readings;

/// <summary>
/// How many readings may wait for the writer. Taking blocks (asynchronously, first come first served) when the
/// budget is spent, which pauses the connection's read loop: back-pressure instead of unbounded memory.
/// </summary>
internal sealed class QueueBudget(int capacity)
{
    private readonly object _gate = new();
    private readonly Queue<Waiter> _waiters = new();
    private int _available = capacity;

    public int Capacity { get; } = capacity;
    public int InUse { get { lock (_gate) return Capacity - _available; } }
    public int Waiting { get { lock (_gate) return _waiters.Count; } }

    /// <summary>Takes <paramref name="count"/> slots (at most the capacity), waiting for them when needed.</summary>
    public ValueTask TakeAsync(int count, CancellationToken ct)
    {
        count = Math.Min(count, Capacity);
        lock (_gate)
        {
            if (_waiters.Count == 0 && _available >= count)
            {
                _available -= count;
                return ValueTask.CompletedTask;
            }
            var waiter = new Waiter(count);
            if (ct.CanBeCanceled)
            {
                waiter.Registration = ct.Register(static w => ((Waiter)w!).Completion.TrySetCanceled(), waiter);
            }
            _waiters.Enqueue(waiter);
            return new ValueTask(waiter.Completion.Task);
        }
    }

    public void Return(int count)
    {
        count = Math.Min(count, Capacity);
        List<Waiter>? released = null;
        lock (_gate)
        {
            _available += count;
            while (_waiters.TryPeek(out var next))
            {
                if (next.Completion.Task.IsCompleted)
                {
                    _waiters.Dequeue();
                    continue;
                }
                if (_available < next.Count) break;
                _waiters.Dequeue();
                _available -= next.Count;
                (released ??= []).Add(next);
            }
        }
        if (released is null) return;
        foreach (var w in released)
        {
            w.Registration.Dispose();
            // Cancelled at the last moment: give its slots back.
            if (!w.Completion.TrySetResult()) Return(w.Count);
        }
    }

    private sealed class Waiter(int count)
    {
        public int Count { get; } = count;
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
    }
}
