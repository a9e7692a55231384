using System.Collections.Concurrent;
using IotWs.Gateway.Storage;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Devices;

/// <summary>
/// SQLite writes that a feature queues from event handlers — which run on connection read loops and the
/// ingest path and so must not wait for the disk — committed in batches by one background task.
/// Readers call Flush() first so that what they read includes everything already decided.
/// </summary>
public sealed partial class DeferredWrites : IDisposable
{
    private const int MaxBatch = 5000;
    private readonly GatewayDatabase _db;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Action<SqliteConnection, SqliteTransaction>> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly object _flushGate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private SqliteConnection? _connection;
    private bool _disposed;

    public DeferredWrites(GatewayDatabase db, ILogger logger)
    {
        _db = db;
        _logger = logger;
        _loop = Task.Run(LoopAsync);
    }

    public void Enqueue(Action<SqliteConnection, SqliteTransaction> write)
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
                _connection ??= _db.Open();
                using var tx = _connection.BeginTransaction();
                for (var n = 0; n < MaxBatch && _queue.TryDequeue(out var write); n++)
                {
                    try
                    {
                        write(_connection, tx);
                    }
                    catch (SqliteException e)
                    {
                        // One bad row must not lose the batch it shares a transaction with.
                        WriteFailed(_logger, e);
                    }
                }
                tx.Commit();
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
            catch (Exception e) when (e is SqliteException or InvalidOperationException or IOException)
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
        try { Flush(); } catch (SqliteException e) { WriteFailed(_logger, e); }
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
