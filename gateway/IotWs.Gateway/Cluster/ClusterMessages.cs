using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace IotWs.Gateway.Cluster;

/// <summary>The cluster's topic names (below "iotws-cluster/") and payload shapes; one place for both.</summary>
public static class ClusterTopics
{
    public const string Root = "iotws-cluster/";
    public const string NodesFilter = "nodes/+";
    public const string OwnersFilter = "devices/+/owner";
    public const string ReleasedFilter = "devices/+/released";
    public const string PubSubFilter = "pubsub/+";

    public static string Node(string nodeId) => "nodes/" + nodeId;
    public static string Owner(string deviceId) => "devices/" + deviceId + "/owner";
    public static string Released(string deviceId) => "devices/" + deviceId + "/released";
    public static string PubSub(string nodeId) => "pubsub/" + nodeId;

    /// <summary>The one level a "+" stands for in nodes/+, pubsub/+ and devices/+/…; null when the subtopic has another shape.</summary>
    public static string? Level(string subtopic, int index)
    {
        var parts = subtopic.Split('/');
        return index < parts.Length && parts[index].Length > 0 ? parts[index] : null;
    }

    /// <summary>Every cluster payload is one of the records below, serialized by compiled code (camelCase, nulls left out).</summary>
    internal static byte[] Encode<T>(T message) => JsonSerializer.SerializeToUtf8Bytes(message, Info<T>());

    /// <summary>Null for a malformed payload: a bad message from another node is dropped, never thrown at the bus.</summary>
    internal static T? Decode<T>(ReadOnlyMemory<byte> payload) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(payload.Span, Info<T>());
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A type missing from <see cref="ClusterJson"/> fails every test that sends it, not only a trimmed build.</summary>
    private static JsonTypeInfo<T> Info<T>() =>
        ClusterJson.Default.GetTypeInfo(typeof(T)) as JsonTypeInfo<T>
        ?? throw new InvalidOperationException($"{typeof(T).Name} is not a cluster message: add it to ClusterJson.");
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NodeHeartbeat))]
[JsonSerializable(typeof(DeviceOwnerMessage))]
[JsonSerializable(typeof(DeviceReleasedMessage))]
[JsonSerializable(typeof(RoutedRpcRequest))]
[JsonSerializable(typeof(RoutedRpcReply))]
internal sealed partial class ClusterJson : JsonSerializerContext;

/// <summary>iotws-cluster/nodes/{nodeId} (retained): {"nodeId","startedAt","at","devices"}; an empty payload means the node is gone.</summary>
public sealed record NodeHeartbeat(string NodeId, DateTimeOffset StartedAt, DateTimeOffset At, int Devices);

/// <summary>
/// iotws-cluster/devices/{deviceId}/owner: {"nodeId","clientId","at"}. "announce" marks a re-announcement of an existing
/// connection for a node that just joined (it never closes anything); without it the message is a new connection.
/// </summary>
public sealed record DeviceOwnerMessage(string NodeId, string ClientId, DateTimeOffset At, bool? Announce = null);

/// <summary>iotws-cluster/devices/{deviceId}/released: the node's connection of the device ended (not replaced).</summary>
public sealed record DeviceReleasedMessage(string NodeId, string ClientId, DateTimeOffset At);
