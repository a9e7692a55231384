namespace IotWs.Gateway.Cluster;

/// <summary>The bus of a single Pi: nobody else to talk to, so nothing is sent and nothing arrives.</summary>
public sealed class DisabledClusterBus(string nodeId, DateTimeOffset startedAt) : IClusterBus
{
    private readonly ClusterNode[] _self = [new ClusterNode(nodeId, startedAt, startedAt, Alive: true)];

    public string NodeId { get; } = nodeId;
    public bool IsEnabled => false;
    public IReadOnlyCollection<ClusterNode> Nodes => _self;

    public event Action<ClusterNode>? NodeLeft
    {
        add { }
        remove { }
    }

    public Task PublishAsync(string subtopic, ReadOnlyMemory<byte> payload, bool retain = false, CancellationToken ct = default) => Task.CompletedTask;

    public IDisposable Subscribe(string subtopicFilter, Action<string, ReadOnlyMemory<byte>> handler) => NoSubscription.Instance;

    private sealed class NoSubscription : IDisposable
    {
        public static readonly NoSubscription Instance = new();

        public void Dispose()
        {
        }
    }
}
