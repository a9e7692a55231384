using System.Collections.Frozen;
using System.Text.Json;
using IotWs.Protocol;

namespace IotWs.Gateway.Connections;

/// <summary>Routes a parsed message to the handler of its type, enforcing the pre-auth gate.</summary>
public sealed class MessageDispatcher
{
    private static readonly FrozenSet<string> AllowedBeforeAuth =
        new[] { MessageTypes.Handshake, MessageTypes.Auth, MessageTypes.Heartbeat }.ToFrozenSet(StringComparer.Ordinal);

    private readonly FrozenDictionary<string, IMessageHandler> _handlers;
    private readonly GatewayEvents _events;
    private readonly ILogger<MessageDispatcher> _logger;

    public MessageDispatcher(IEnumerable<IMessageHandler> handlers, GatewayEvents events, ILogger<MessageDispatcher> logger)
    {
        var map = new Dictionary<string, IMessageHandler>(StringComparer.Ordinal);
        foreach (var handler in handlers)
        {
            foreach (var type in handler.Types)
            {
                if (!map.TryAdd(type, handler)) throw new InvalidOperationException($"Two handlers for message type '{type}'.");
            }
        }
        _handlers = map.ToFrozenDictionary(StringComparer.Ordinal);
        _events = events;
        _logger = logger;
    }

    public async ValueTask DispatchAsync(ClientSession session, JsonElement message, CancellationToken ct)
    {
        if (message.ValueKind != JsonValueKind.Object)
        {
            session.SendError(ErrorCodes.InvalidMessage, "A message must be a JSON object with a string field 'type'.");
            return;
        }
        var requestId = message.TryGetProperty(Fields.RequestId, out var rid) && rid.ValueKind == JsonValueKind.String ? rid.GetString() : null;
        if (!message.TryGetProperty(Fields.Type, out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
        {
            session.SendError(ErrorCodes.InvalidMessage, "A message must have a string field 'type'.", requestId);
            return;
        }
        var type = typeElement.GetString()!;
        if (!session.IsAuthenticated && !AllowedBeforeAuth.Contains(type))
        {
            session.SendError(ErrorCodes.NotAuthenticated, $"Send 'auth' with a token before '{type}'.", requestId);
            return;
        }
        if (!_handlers.TryGetValue(type, out var handler))
        {
            session.SendError(ErrorCodes.UnknownType, $"Unknown message type '{type}'.", requestId);
            return;
        }
        if (session.IsAuthenticated)
        {
            _events.OnMessage(session);
            _events.OnMessageArrived(session, type, message);
        }
        try
        {
            await handler.HandleAsync(session, message, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (MessageException e)
        {
            session.SendError(e.Code, e.Message, requestId);
        }
        catch (Exception e)
        {
            GatewayLog.HandlerFailed(_logger, e, session.ClientId, type);
            session.SendError(ErrorCodes.InternalError, "The gateway could not process this message; it was not applied.", requestId);
        }
    }
}

/// <summary>Thrown by handlers for a message that is wrong in a way the client can fix; answered as an error message.</summary>
public sealed class MessageException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
