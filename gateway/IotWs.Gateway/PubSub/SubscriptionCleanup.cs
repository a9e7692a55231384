using IotWs.Gateway.Connections;

namespace IotWs.Gateway.PubSub;

/// <summary>Drops a connection's subscriptions when it goes away.</summary>
internal sealed class SubscriptionCleanup(GatewayEvents events, ITopicBroker broker) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        events.ClientDisconnected += broker.Forget;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        events.ClientDisconnected -= broker.Forget;
        return Task.CompletedTask;
    }
}
