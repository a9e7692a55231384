using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace IotWs.Gateway.Tests.Infrastructure;

/// <summary>Keeps every log entry of a test gateway (level, category, formatted text, exception) for assertions.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public sealed record Entry(LogLevel Level, string Category, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {Category}: {Message}{(Exception is null ? "" : " " + Exception.GetType().Name + ": " + Exception.Message)}";
    }

    public IReadOnlyCollection<Entry> Entries => _entries;

    /// <summary>Entries at error level or above (an unhandled exception, a handler failure).</summary>
    public IReadOnlyList<Entry> Errors => _entries.Where(e => e.Level >= LogLevel.Error).ToList();

    /// <summary>Adds the provider to a gateway's builder: IotWs categories from Information, everything else from Warning.</summary>
    public void AddTo(WebApplicationBuilder builder)
    {
        builder.Logging.AddProvider(this);
        builder.Logging.AddFilter<CapturedLogs>("IotWs", LogLevel.Information);
        builder.Logging.AddFilter<CapturedLogs>("Microsoft", LogLevel.Warning);
    }

    public ILogger CreateLogger(string categoryName) => new Logger(_entries, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(ConcurrentQueue<Entry> entries, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new Entry(logLevel, category, formatter(state, exception), exception));
    }
}
