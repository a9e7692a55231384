using System.Collections.Concurrent;
using System.Text.Json;
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
    /// <summary>Publishes {"type":"publish","topic","data","timestamp","source"} to every matching subscriber; returns how many got it.</summary>
    int Publish(string topic, JsonNode? data, string source, string? excludeClientId = null);
    /// <summary>Raised for every publish, for in-process consumers such as alert rules and bridges.</summary>
    event Action<string, JsonNode?>? Published;
}

/// <summary>
/// The single-process broker: each connection's filters are kept with the connection, and a publish
/// is serialized once and queued (droppable) on each matching connection's outbox, so it never waits for a peer.
/// </summary>
public sealed class InProcessTopicBroker(TimeProvider time, Microsoft.Extensions.Options.IOptions<Configuration.GatewayOptions> options) : ITopicBroker
{
    private readonly ConcurrentDictionary<ClientSession, HashSet<string>> _subscriptions = new();
    private long _published;
    private long _delivered;

    public event Action<string, JsonNode?>? Published;

    public long PublishedCount => Interlocked.Read(ref _published);
    public long DeliveredCount => Interlocked.Read(ref _delivered);
    public int SubscriberCount => _subscriptions.Count;

    public bool Subscribe(ClientSession session, string filter, out string? error)
    {
        if (!Topics.IsValidFilter(filter))
        {
            error = $"'{filter}' is not a valid topic filter: '/'-separated non-empty levels, '+' as a whole level, '#' only as the last level.";
            return false;
        }
        var set = _subscriptions.GetOrAdd(session, _ => new HashSet<string>(StringComparer.Ordinal));
        lock (set)
        {
            if (!set.Contains(filter) && set.Count >= options.Value.MaxSubscriptionsPerConnection)
            {
                error = $"At most {options.Value.MaxSubscriptionsPerConnection} subscriptions per connection.";
                return false;
            }
            set.Add(filter);
        }
        error = null;
        return true;
    }

    public bool Unsubscribe(ClientSession session, string filter)
    {
        if (!_subscriptions.TryGetValue(session, out var set)) return false;
        lock (set) return set.Remove(filter);
    }

    public void Forget(ClientSession session) => _subscriptions.TryRemove(session, out _);

    public int Publish(string topic, JsonNode? data, string source, string? excludeClientId = null)
    {
        Interlocked.Increment(ref _published);
        byte[]? payload = null;
        var count = 0;
        foreach (var (session, set) in _subscriptions)
        {
            if (session.ClientId == excludeClientId || session.IsClosing) continue;
            bool match;
            lock (set)
            {
                match = false;
                foreach (var filter in set)
                {
                    if (Topics.Matches(filter, topic)) { match = true; break; }
                }
            }
            if (!match) continue;
            payload ??= WireJson.Write(w =>
            {
                w.WriteStartObject();
                w.WriteString(Fields.Type, MessageTypes.Publish);
                w.WriteString(Fields.Topic, topic);
                w.WritePropertyName(Fields.Data);
                WireJson.WriteNode(w, data);
                w.WriteString(Fields.Timestamp, WireJson.Time(time.GetUtcNow()));
                w.WriteString(Fields.Source, source);
                w.WriteEndObject();
            });
            if (session.SendDroppable(payload)) count++;
        }
        Interlocked.Add(ref _delivered, count);
        Published?.Invoke(topic, data);
        return count;
    }
}
