using System.Collections.Concurrent;
using System.Data.Common;

namespace IotWs.Gateway.Storage;

/// <summary>
/// Database writes that a store queues from event handlers — which run on connection read loops and the
/// ingest path and so must not wait for the disk — committed in batches by one background task.
/// Readers call Flush() first so that what they read includes everything already decided.
/// </summary>
public sealed partial class DeferredWrites : IDisposable
{
    private const int MaxBatch = 5000;
    private readonly Func<DbConnection> _open;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Action<DbConnection, DbTransaction>> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly object _flushGate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private DbConnection? _connection;
    private bool _disposed;

    /// <param name="open">Opens a connection (kept for the next batches until disposed).</param>
    public DeferredWrites(Func<DbConnection> open, ILogger logger)
    {
        _open = open;
        _logger = logger;
        _loop = Task.Run(LoopAsync);
    }

    public void Enqueue(Action<DbConnection, DbTransaction> write)
    {
        _queue.Enqueue(write);
        // A wake-up signal only: at most one pending release, so the count never grows with traffic.
        if (_signal.CurrentCount == 0) _signal.Release();
    }

    /// <summary>Commits everything queued so far (on the caller's thread).</summary>
    public void Flush()
    {
        lock (_flushGate)
        {
            while (!_queue.IsEmpty)
            {
                _connection ??= _open();
                // SQLite carries on after a failed statement; PostgreSQL aborts the transaction, so there each write
                // runs inside a savepoint: one bad row must not lose the batch it shares a transaction with.
                var savepoints = _connection is not Microsoft.Data.Sqlite.SqliteConnection;
                try
                {
                    using var tx = _connection.BeginTransaction();
                    for (var n = 0; n < MaxBatch && _queue.TryDequeue(out var write); n++)
                    {
                        if (savepoints) tx.Save("w");
                        try
                        {
                            write(_connection, tx);
                            if (savepoints) tx.Release("w");
                        }
                        catch (DbException e)
                        {
                            if (savepoints) tx.Rollback("w");
                            WriteFailed(_logger, e);
                        }
                    }
                    tx.Commit();
                }
                catch
                {
                    // A broken connection is not reused: the next batch opens a new one.
                    _connection.Dispose();
                    _connection = null;
                    throw;
                }
            }
        }
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _signal.WaitAsync(_stop.Token);
                Flush();
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e) when (e is DbException or InvalidOperationException or IOException)
            {
                WriteFailed(_logger, e);
            }
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stop.Cancel();
        try { _loop.Wait(TimeSpan.FromSeconds(10)); } catch (AggregateException) { }
        try { Flush(); } catch (DbException e) { WriteFailed(_logger, e); }
        lock (_flushGate)
        {
            _connection?.Dispose();
            _connection = null;
        }
        _stop.Dispose();
    }

    [LoggerMessage(101, LogLevel.Error, "A deferred database write failed")]
    private static partial void WriteFailed(ILogger logger, Exception e);
}
