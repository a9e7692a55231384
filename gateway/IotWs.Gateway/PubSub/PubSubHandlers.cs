using System.Text.Json;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Identity;
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
        var requestId = message.TryGetProperty(Fields.RequestId, out var rid) && rid.ValueKind == JsonValueKind.String ? rid.GetString() : null;
        switch (type)
        {
            case MessageTypes.Subscribe:
                if (!Topics.IsValidFilter(topic))
                {
                    Respond(session, MessageTypes.SubscribeResponse, topic, requestId, ErrorCodes.InvalidMessage, InvalidFilter(topic));
                }
                else if (!session.MaySubscribe(topic))
                {
                    Respond(session, MessageTypes.SubscribeResponse, topic, requestId, ErrorCodes.Forbidden, $"A device may subscribe only under devices/{session.DeviceId}/; '{topic}' is not.");
                }
                else if (!broker.Subscribe(session, topic, out var refused))
                {
                    // The filter is valid, so the refusal is the per-connection limit (or a closing connection).
                    Respond(session, MessageTypes.SubscribeResponse, topic, requestId, ErrorCodes.Forbidden, refused);
                }
                else
                {
                    Respond(session, MessageTypes.SubscribeResponse, topic, requestId, null, null);
                }
                break;
            case MessageTypes.Unsubscribe:
                if (!Topics.IsValidFilter(topic))
                {
                    Respond(session, MessageTypes.UnsubscribeResponse, topic, requestId, ErrorCodes.InvalidMessage, InvalidFilter(topic));
                    break;
                }
                // As in MQTT, unsubscribing from a filter one does not hold succeeds: afterwards it is not held.
                broker.Unsubscribe(session, topic);
                Respond(session, MessageTypes.UnsubscribeResponse, topic, requestId, null, null);
                break;
            default:
                if (!Topics.IsValidTopic(topic))
                    throw new MessageException(ErrorCodes.InvalidMessage, $"'{topic}' is not a valid topic to publish to: non-empty '/'-separated levels, no wildcards ('+', '#').");
                if (!MayPublish(session, topic))
                    throw new MessageException(ErrorCodes.Forbidden, session.IsDevice
                        ? $"A device may publish only under devices/{session.DeviceId}/; '{topic}' is not."
                        : $"Role '{session.Role}' may not publish.");
                var data = message.TryGetProperty(Fields.Data, out var d) ? WireJson.ToNode(d) : null;
                broker.Publish(topic, data, session.ClientId, excludeClientId: session.ClientId);
                break;
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>A device only under devices/{its own id}/…; technician and admin anywhere; viewer nowhere.</summary>
    internal static bool MayPublish(ClientSession session, string topic) =>
        session.IsDevice ? Topics.IsOwnDeviceTopic(session.DeviceId!, topic) : Roles.CanOperate(session.Role ?? "");

    private static string InvalidFilter(string topic) =>
        $"'{topic}' is not a valid topic filter: '/'-separated non-empty levels, '+' only as a whole level, '#' only as the whole last level.";

    /// <summary>subscribe_response / unsubscribe_response; a failure carries the error code and a message, like auth_response.</summary>
    private static void Respond(ClientSession session, string type, string topic, string? requestId, string? errorCode, string? message) =>
        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, type);
            w.WriteBoolean(Fields.Success, errorCode is null);
            w.WriteString(Fields.Topic, topic);
            if (errorCode is not null)
            {
                w.WriteString(Fields.Error, errorCode);
                w.WriteString(Fields.Message, message);
            }
            if (requestId is not null) w.WriteString(Fields.RequestId, requestId);
            w.WriteEndObject();
        });
}
