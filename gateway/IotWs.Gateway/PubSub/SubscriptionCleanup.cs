using IotWs.Gateway.Connections;
using IotWs.Protocol;

namespace IotWs.Gateway.PubSub;

/// <summary>Fan-out figures that outlive connections: drops of closed connections and slow consumers closed.</summary>
public sealed class FanOutStats
{
    private long _droppedByClosed;
    private long _slowConsumersClosed;

    public long DroppedByClosedConnections => Interlocked.Read(ref _droppedByClosed);
    public long SlowConsumersClosed => Interlocked.Read(ref _slowConsumersClosed);

    internal void Closed(ClientSession session, bool slowConsumer)
    {
        Interlocked.Add(ref _droppedByClosed, session.Outbox.Dropped);
        if (slowConsumer) Interlocked.Increment(ref _slowConsumersClosed);
    }
}

/// <summary>Drops a connection's subscriptions when it goes away, and counts what its outbox dropped.</summary>
internal sealed partial class SubscriptionCleanup(GatewayEvents events, ITopicBroker broker, FanOutStats stats, ILogger<SubscriptionCleanup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        events.ClientDisconnected += OnDisconnected;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        events.ClientDisconnected -= OnDisconnected;
        return Task.CompletedTask;
    }

    private void OnDisconnected(ClientSession session)
    {
        broker.Forget(session);
        var slow = session.Outbox.IsStuck && session.CloseCode == CloseCodes.PolicyViolation;
        stats.Closed(session, slow);
        if (slow) SlowConsumerClosed(logger, session.ClientId, session.Principal, session.Outbox.Dropped);
    }

    [LoggerMessage(501, LogLevel.Warning, "Client {ClientId} ({Principal}) closed with 1008 as a slow consumer after {Dropped} messages were dropped")]
    private static partial void SlowConsumerClosed(ILogger logger, string clientId, string? principal, long dropped);
}
