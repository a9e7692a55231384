using System.Text.Json;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.PubSub;

/// <summary>subscribe / unsubscribe / publish from clients, with publish rights by role.</summary>
internal sealed class PubSubHandlers(ITopicBroker broker) : IMessageHandler
{
    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.Subscribe, MessageTypes.Unsubscribe, MessageTypes.Publish];

    public ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        var type = message.GetProperty(Fields.Type).GetString();
        var topic = JsonFields.RequiredString(message, Fields.Topic);
        switch (type)
        {
            case MessageTypes.Subscribe:
                if (!broker.Subscribe(session, topic, out var error))
                {
                    session.Send(w => Response(w, MessageTypes.SubscribeResponse, topic, false, error));
                    return ValueTask.CompletedTask;
                }
                session.Send(w => Response(w, MessageTypes.SubscribeResponse, topic, true, null));
                break;
            case MessageTypes.Unsubscribe:
                var removed = broker.Unsubscribe(session, topic);
                session.Send(w => Response(w, MessageTypes.UnsubscribeResponse, topic, removed, removed ? null : $"Not subscribed to '{topic}'."));
                break;
            default:
                if (!Topics.IsValidTopic(topic))
                    throw new MessageException(ErrorCodes.InvalidMessage, $"'{topic}' is not a valid topic to publish to: non-empty '/'-separated levels, no wildcards.");
                if (!MayPublish(session, topic))
                    throw new MessageException(ErrorCodes.Forbidden, session.IsDevice
                        ? $"A device may publish only under devices/{session.DeviceId}/."
                        : $"Role '{session.Role}' may not publish.");
                var data = message.TryGetProperty(Fields.Data, out var d) ? WireJson.ToNode(d) : null;
                broker.Publish(topic, data, session.ClientId, excludeClientId: session.ClientId);
                break;
        }
        return ValueTask.CompletedTask;
    }

    internal static bool MayPublish(ClientSession session, string topic) =>
        session.IsDevice ? Topics.IsOwnDeviceTopic(session.DeviceId!, topic) : Roles.CanOperate(session.Role ?? "");

    private static void Response(Utf8JsonWriter w, string type, string topic, bool success, string? error)
    {
        w.WriteStartObject();
        w.WriteString(Fields.Type, type);
        w.WriteBoolean(Fields.Success, success);
        w.WriteString(Fields.Topic, topic);
        if (error is not null) w.WriteString(Fields.Error, error);
        w.WriteEndObject();
    }
}
