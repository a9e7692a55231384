using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.PubSub;

/// <summary>Delivers published messages to subscribed connections (and to in-process observers).</summary>
public interface ITopicBroker
{
    /// <summary>Adds a subscription; false with a reason when refused.</summary>
    bool Subscribe(ClientSession session, string filter, out string? error);
    bool Unsubscribe(ClientSession session, string filter);
    void Forget(ClientSession session);
    /// <summary>
    /// Publishes {"type":"publish","topic","data","timestamp","source"} to every matching subscriber of this node; returns
    /// how many got it. In a cluster it also goes to the other nodes' subscribers (<paramref name="toCluster"/> false:
    /// the caller forwards it its own way, as readings do).
    /// </summary>
    int Publish(string topic, JsonNode? data, string source, string? excludeClientId = null, bool toCluster = true);
    /// <summary>A publish of another node: to this node's subscribers only, with its own timestamp; never forwarded, no Published event.</summary>
    int DeliverRemote(string topic, JsonNode? data, string source, DateTimeOffset timestamp);
    /// <summary>Raised for every publish, for in-process consumers such as alert rules and bridges.</summary>
    event Action<string, JsonNode?>? Published;
    /// <summary>True when a publish on this topic would reach anyone on this node: lets hot paths skip building the message.</summary>
    bool IsHeard(string topic);
}

/// <summary>
/// The single-process broker. Exact filters are found by dictionary lookup, wildcard filters are matched
/// once per distinct filter, and a publish is serialized once and queued (droppable) on each matching
/// connection's outbox: it never waits for a peer, so a slow dashboard cannot slow the publisher. In a cluster every
/// publish is also queued once on the bus (iotws-cluster/pubsub/{this node}); the other nodes deliver it with
/// <see cref="DeliverRemote"/>.
/// </summary>
public sealed class InProcessTopicBroker(TimeProvider time, Microsoft.Extensions.Options.IOptions<Configuration.GatewayOptions> options, Cluster.IClusterBus cluster) : ITopicBroker
{
    /// <summary>One distinct filter and the connections subscribed to it.</summary>
    private sealed class Filter(string text)
    {
        public string Text { get; } = text;
        public string[] Levels { get; } = text.Split('/');
        public ConcurrentDictionary<ClientSession, byte> Sessions { get; } = new();
    }

    private readonly ConcurrentDictionary<string, Filter> _exact = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Filter> _wildcard = new(StringComparer.Ordinal);
    // Subscribe/unsubscribe are rare next to publishes: one lock keeps the indexes consistent; publishes read without it.
    private readonly Dictionary<ClientSession, HashSet<string>> _bySession = [];
    private readonly object _gate = new();
    private long _published;
    private long _delivered;

    public event Action<string, JsonNode?>? Published;

    public long PublishedCount => Interlocked.Read(ref _published);
    public long DeliveredCount => Interlocked.Read(ref _delivered);

    /// <summary>Connections with at least one subscription.</summary>
    public int SubscriberCount
    {
        get { lock (_gate) return _bySession.Count; }
    }

    public bool IsHeard(string topic)
    {
        if (Published is not null) return true;
        if (_exact.TryGetValue(topic, out var exact) && !exact.Sessions.IsEmpty) return true;
        if (_wildcard.IsEmpty) return false;
        var levels = topic.Split('/');
        foreach (var (_, filter) in _wildcard)
        {
            if (!filter.Sessions.IsEmpty && Matches(filter.Levels, levels)) return true;
        }
        return false;
    }

    public bool Subscribe(ClientSession session, string filter, out string? error)
    {
        if (!Topics.IsValidFilter(filter))
        {
            error = $"'{filter}' is not a valid topic filter: '/'-separated non-empty levels, '+' as a whole level, '#' only as the last level.";
            return false;
        }
        var limit = options.Value.MaxSubscriptionsPerConnection;
        lock (_gate)
        {
            // Checked under the lock that Forget takes: a connection that is going away cannot leave a subscription behind.
            if (session.IsClosing)
            {
                error = "The connection is closing.";
                return false;
            }
            if (!_bySession.TryGetValue(session, out var set))
            {
                set = new HashSet<string>(StringComparer.Ordinal);
                _bySession[session] = set;
            }
            if (!set.Contains(filter) && set.Count >= limit)
            {
                if (set.Count == 0) _bySession.Remove(session);
                error = $"At most {limit} subscriptions per connection; unsubscribe from one first.";
                return false;
            }
            if (set.Add(filter))
            {
                var index = IsWildcard(filter) ? _wildcard : _exact;
                index.GetOrAdd(filter, f => new Filter(f)).Sessions[session] = 0;
            }
        }
        error = null;
        return true;
    }

    public bool Unsubscribe(ClientSession session, string filter)
    {
        lock (_gate)
        {
            if (!_bySession.TryGetValue(session, out var set) || !set.Remove(filter)) return false;
            if (set.Count == 0) _bySession.Remove(session);
            RemoveFromIndex(session, filter);
            return true;
        }
    }

    public void Forget(ClientSession session)
    {
        lock (_gate)
        {
            if (!_bySession.Remove(session, out var set)) return;
            foreach (var filter in set) RemoveFromIndex(session, filter);
        }
    }

    /// <summary>The filters a connection holds.</summary>
    public IReadOnlyList<string> FiltersOf(ClientSession session)
    {
        lock (_gate) return _bySession.TryGetValue(session, out var set) ? set.ToArray() : [];
    }

    /// <summary>Subscriber count of every filter somebody holds.</summary>
    public IReadOnlyList<(string Filter, int Subscribers)> FilterCounts()
    {
        lock (_gate)
        {
            return _exact.Values.Concat(_wildcard.Values)
                .Select(f => (f.Text, f.Sessions.Count))
                .OrderByDescending(f => f.Count).ThenBy(f => f.Text, StringComparer.Ordinal)
                .ToArray();
        }
    }

    public int Publish(string topic, JsonNode? data, string source, string? excludeClientId = null, bool toCluster = true)
    {
        Interlocked.Increment(ref _published);
        var now = time.GetUtcNow();
        var count = DeliverLocal(topic, data, source, excludeClientId, now);
        if (toCluster && cluster.IsEnabled) Cluster.ClusterFanout.Forward(cluster, topic, data, source, now);
        Published?.Invoke(topic, data);
        return count;
    }

    public int DeliverRemote(string topic, JsonNode? data, string source, DateTimeOffset timestamp) =>
        Topics.IsValidTopic(topic) ? DeliverLocal(topic, data, source, null, timestamp) : 0;

    private int DeliverLocal(string topic, JsonNode? data, string source, string? excludeClientId, DateTimeOffset timestamp)
    {
        byte[]? payload = null;
        var count = 0;

        Filter? single = _exact.TryGetValue(topic, out var exact) ? exact : null;
        List<Filter>? several = null;
        if (!_wildcard.IsEmpty)
        {
            var levels = topic.Split('/');
            foreach (var (_, filter) in _wildcard)
            {
                if (!Matches(filter.Levels, levels)) continue;
                if (single is null)
                {
                    single = filter;
                }
                else
                {
                    several ??= [single];
                    several.Add(filter);
                }
            }
        }

        if (several is null)
        {
            if (single is not null)
            {
                foreach (var (session, _) in single.Sessions) Deliver(session);
            }
        }
        else
        {
            // A connection holding several matching filters gets the message once.
            var seen = new HashSet<ClientSession>();
            foreach (var filter in several)
            {
                foreach (var (session, _) in filter.Sessions)
                {
                    if (seen.Add(session)) Deliver(session);
                }
            }
        }

        Interlocked.Add(ref _delivered, count);
        return count;

        void Deliver(ClientSession session)
        {
            if (session.IsClosing || session.ClientId == excludeClientId) return;
            payload ??= WireJson.Write(w =>
            {
                w.WriteStartObject();
                w.WriteString(Fields.Type, MessageTypes.Publish);
                w.WriteString(Fields.Topic, topic);
                w.WritePropertyName(Fields.Data);
                WireJson.WriteNode(w, data);
                w.WriteString(Fields.Timestamp, WireJson.Time(timestamp));
                w.WriteString(Fields.Source, source);
                w.WriteEndObject();
            });
            if (session.SendDroppable(payload)) count++;
        }
    }

    private void RemoveFromIndex(ClientSession session, string filter)
    {
        var index = IsWildcard(filter) ? _wildcard : _exact;
        if (!index.TryGetValue(filter, out var entry)) return;
        entry.Sessions.TryRemove(session, out _);
        // Safe without a race: every add also happens under _gate.
        if (entry.Sessions.IsEmpty) index.TryRemove(filter, out _);
    }

    private static bool IsWildcard(string filter) => filter.Contains('+', StringComparison.Ordinal) || filter.Contains('#', StringComparison.Ordinal);

    /// <summary>MQTT matching on pre-split levels ('#' also matches the parent level, as in MQTT).</summary>
    private static bool Matches(string[] filter, string[] topic)
    {
        for (var i = 0; i < filter.Length; i++)
        {
            var level = filter[i];
            if (level == "#") return true;
            if (i >= topic.Length) return false;
            if (level != "+" && level != topic[i]) return false;
        }
        return filter.Length == topic.Length;
    }
}
