using IotWs.Gateway.Cluster;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Tests.Infrastructure;
using static IotWs.Gateway.Tests.Rpc.RpcSteps;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>RPC across two in-process nodes on one real PostgreSQL and one real Mosquitto: the device is on A, the technician on B.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ClusterRpcTests(PostgresFixture postgres)
{
    /// <summary>Two nodes with fast sweeps, device esp-1 provisioned, a technician's HTTP client on node B.</summary>
    private sealed class TwoNodes : IAsyncDisposable
    {
        private TwoNodes(OwnerNodes cluster, OwnerNodes.Node a, OwnerNodes.Node b, string token, HttpClient http) =>
            (Cluster, A, B, Token, Http) = (cluster, a, b, token, http);

        public OwnerNodes Cluster { get; }
        public OwnerNodes.Node A { get; }
        public OwnerNodes.Node B { get; }
        public string Token { get; }
        public HttpClient Http { get; }

        public static async Task<TwoNodes> StartAsync(PostgresFixture postgres, string? technician = null)
        {
            var cluster = await OwnerNodes.StartAsync(postgres);
            var a = await cluster.StartNodeAsync("node-a", Fast);
            var b = await cluster.StartNodeAsync("node-b", Fast);
            return new TwoNodes(cluster, a, b, a.Gateway.AddDevice("esp-1"), b.Gateway.Http(b.Gateway.AddKey("technician", technician)));
        }

        /// <summary>esp-1 connected to node A, once node B knows it is there.</summary>
        public async Task<TestClient> ConnectOnAAsync()
        {
            var device = await A.Gateway.ConnectDeviceAsync("esp-1", Token);
            await WaitUntilBKnowsAsync(B, "esp-1", "node-a");
            return device;
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await Cluster.DisposeAsync();
        }
    }

    private static async Task WaitUntilBKnowsAsync(OwnerNodes.Node b, string deviceId, string? node) =>
        await OwnerNodes.EventuallyAsync(() => b.Service<IDeviceOwners>().NodeOf(deviceId) == node, $"node-b sees {deviceId} on {node ?? "no node"}");

    [OwnerClusterFact]
    public async Task A_ping_on_node_b_is_answered_by_the_device_connected_to_node_a()
    {
        await using var nodes = await TwoNodes.StartAsync(postgres, "tech-anna");
        var (a, b, http) = (nodes.A, nodes.B, nodes.Http);
        await using var device = await nodes.ConnectOnAAsync();

        var post = PostAsync(http, "esp-1", new { endpoint = "ping" });
        var request = await device.ReceiveAsync("request");
        Assert.Equal("ping", request.GetProperty("endpoint").GetString());
        await AnswerAsync(device, request, new { pong = true });
        var (status, call, _) = await post;

        Assert.Equal(200, status);
        Assert.Equal("succeeded", call.GetProperty("status").GetString());
        Assert.True(call.GetProperty("result").GetProperty("pong").GetBoolean());
        Assert.Equal("tech-anna", call.GetProperty("caller").GetString());
        Assert.Equal(["sent", "succeeded"], Statuses(call));
        Assert.Equal(request.GetProperty("requestId").GetString(), call.GetProperty("id").GetString());
        // The node that sent the call is the one recording it: a restart of B fails it, not one of A.
        Assert.Equal("node-b", b.Service<IRpcCallStore>().Get(call.GetProperty("id").GetString()!)!.Node);
        Assert.Equal(0, Pending(a.Gateway));
        Assert.Equal(0, Pending(b.Gateway));
        // The same call in the audit log of either node.
        Assert.Equal("succeeded", (await GetCallAsync(a.Gateway.Http(a.Gateway.AddKey("technician")), call.GetProperty("id").GetString()!)).GetProperty("status").GetString());
    }

    [OwnerClusterFact]
    public async Task A_call_on_node_b_that_the_device_on_a_never_answers_times_out_as_on_one_gateway()
    {
        await using var nodes = await TwoNodes.StartAsync(postgres);
        var (a, b, http) = (nodes.A, nodes.B, nodes.Http);
        await using var device = await nodes.ConnectOnAAsync();

        var post = PostAsync(http, "esp-1", new { endpoint = "ping", timeoutMs = 1000 });
        await device.ReceiveAsync("request");
        var (status, call, _) = await post;

        Assert.Equal(504, status);
        Assert.Equal("timeout", call.GetProperty("status").GetString());
        Assert.Equal(["sent", "timeout"], Statuses(call));
        Assert.Equal(0, Pending(a.Gateway));
        Assert.Equal(0, Pending(b.Gateway));
    }

    [OwnerClusterFact]
    public async Task A_call_on_node_b_for_a_device_connected_nowhere_fails_device_offline()
    {
        await using var nodes = await TwoNodes.StartAsync(postgres);
        var http = nodes.Http;

        var (_, call, _) = await PostAsync(http, "esp-1", new { endpoint = "ping" });
        Assert.Equal("failed", call.GetProperty("status").GetString());
        Assert.Equal("device_offline", call.GetProperty("error").GetString());
    }

    [OwnerClusterFact]
    public async Task A_persistent_call_queued_on_node_b_is_delivered_when_the_device_connects_to_node_a()
    {
        await using var nodes = await TwoNodes.StartAsync(postgres);
        var (a, b, http) = (nodes.A, nodes.B, nodes.Http);

        var (status, queued, _) = await PostAsync(http, "esp-1", new { endpoint = "get_sensor_status", persistent = true, ttlSeconds = 60 });
        Assert.Equal(202, status);
        var id = queued.GetProperty("id").GetString()!;

        await using var device = await a.Gateway.ConnectDeviceAsync("esp-1", nodes.Token);
        var request = await device.ReceiveAsync("request");
        Assert.Equal(id, request.GetProperty("requestId").GetString());
        await AnswerAsync(device, request, new { temperature = 20.0 });

        var call = await WaitForStatusAsync(http, id, "succeeded");
        Assert.Equal(["queued", "sent", "succeeded"], Statuses(call));
        // Delivered (and so sent) by the node holding the device.
        Assert.Equal("node-a", b.Service<IRpcCallStore>().Get(id)!.Node);
    }

    [OwnerClusterFact]
    public async Task A_persistent_call_made_on_node_b_while_the_device_is_on_node_a_is_delivered_at_once_and_answered()
    {
        await using var nodes = await TwoNodes.StartAsync(postgres);
        var (a, b, http) = (nodes.A, nodes.B, nodes.Http);
        await using var device = await nodes.ConnectOnAAsync();

        // As on one gateway: the device is connected, so the POST waits for the outcome.
        var post = PostAsync(http, "esp-1", new { endpoint = "ping", persistent = true, ttlSeconds = 60 });
        await AnswerAsync(device, await device.ReceiveAsync("request"), new { pong = true });
        var (status, call, _) = await post;

        Assert.Equal(200, status);
        Assert.Equal("succeeded", call.GetProperty("status").GetString());
        Assert.Equal(["queued", "sent", "succeeded"], Statuses(call));
    }

    [OwnerClusterFact]
    public async Task A_call_routed_to_a_node_that_dies_before_answering_fails_device_disconnected_at_once()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        var b = await cluster.StartNodeAsync("node-b", Fast);
        b.Gateway.AddDevice("esp-g");
        using var http = b.Gateway.Http(b.Gateway.AddKey("technician"));
        // The device's node is one the test controls: it takes the request and then dies without answering.
        await using var ghost = await GhostNode.ConnectAsync(cluster.Broker.Port, "node-ghost", withWill: true);
        await ghost.HeartbeatAsync(devices: 1);
        await ghost.PublishAsync("devices/esp-g/owner", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { nodeId = "node-ghost", clientId = "c-ghost-1", at = DateTimeOffset.UtcNow }));
        await WaitUntilBKnowsAsync(b, "esp-g", "node-ghost");

        var started = System.Diagnostics.Stopwatch.StartNew();
        var post = PostAsync(http, "esp-g", new { endpoint = "ping", timeoutMs = 30000 });
        await OwnerNodes.EventuallyAsync(() => Pending(b.Gateway) == 1, "node-b waits for node-ghost's answer");
        ghost.CutConnection();
        var (_, call, _) = await post;

        Assert.Equal("failed", call.GetProperty("status").GetString());
        Assert.Equal("device_disconnected", call.GetProperty("error").GetString());
        Assert.Equal(["sent", "failed"], Statuses(call));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), $"failed after {started.Elapsed}, not at the 30 s timeout");
        Assert.Equal(0, Pending(b.Gateway));
    }

    [OwnerClusterFact]
    public async Task The_same_idempotency_key_posted_on_both_nodes_at_once_makes_one_call_and_one_request_to_the_device()
    {
        await using var cluster = await OwnerNodes.StartAsync(postgres);
        var a = await cluster.StartNodeAsync("node-a", Fast);
        // Node B looks the key up and then dawdles before creating the call: the window in which A's retry arrives.
        var bLookedUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var b = await cluster.StartNodeAsync("node-b", builder => builder.Services.AddSingleton<IRpcCallStore>(sp =>
            SlowIdempotencyLookup.Wrap(sp.GetRequiredService<IotWs.Gateway.Storage.Postgres.PostgresRpcCallStore>(), bLookedUp)), Fast);
        var token = a.Gateway.AddDevice("esp-1");
        using var httpA = a.Gateway.Http(a.Gateway.AddKey("technician"));
        using var httpB = b.Gateway.Http(b.Gateway.AddKey("technician"));
        await using var device = await a.Gateway.ConnectDeviceAsync("esp-1", token);
        await WaitUntilBKnowsAsync(b, "esp-1", "node-a");

        var body = new { endpoint = "ping", idempotencyKey = "retry-1" };
        var onB = PostAsync(httpB, "esp-1", body);
        await bLookedUp.Task;
        var onA = PostAsync(httpA, "esp-1", body);
        var request = await device.ReceiveAsync("request");
        await AnswerAsync(device, request, new { pong = true });
        var results = await Task.WhenAll(onB, onA);

        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(500)), "the device got a second request for one idempotencyKey");
        Assert.All(results, r => Assert.Equal(request.GetProperty("requestId").GetString(), r.Body.GetProperty("id").GetString()));
        Assert.All(results, r => Assert.Equal("succeeded", r.Body.GetProperty("status").GetString()));
        Assert.Equal(1L, await cluster.ScalarAsync<long>("SELECT count(*) FROM rpc_calls"));
        Assert.Equal(0L, await cluster.ScalarAsync<long>("SELECT count(*) FROM leases WHERE name LIKE 'rpc-idempotency:%'"));
    }

    /// <summary>The real call store, except that an idempotency lookup waits 500 ms after answering (once): a slow node.</summary>
    public class SlowIdempotencyLookup : System.Reflection.DispatchProxy
    {
        private IRpcCallStore _inner = null!;
        private TaskCompletionSource _lookedUp = null!;

        public static IRpcCallStore Wrap(IRpcCallStore inner, TaskCompletionSource lookedUp)
        {
            var proxy = Create<IRpcCallStore, SlowIdempotencyLookup>();
            var self = (SlowIdempotencyLookup)(object)proxy;
            self._inner = inner;
            self._lookedUp = lookedUp;
            return proxy;
        }

        protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args)
        {
            object? result;
            try
            {
                result = targetMethod!.Invoke(_inner, args);
            }
            catch (System.Reflection.TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
            if (targetMethod.Name == nameof(IRpcCallStore.FindByIdempotencyKey) && _lookedUp.TrySetResult()) Thread.Sleep(500);
            return result;
        }
    }
}
