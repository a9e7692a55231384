using System.Text.Json;

namespace IotWs.Gateway.Connections;

/// <summary>Handles the protocol messages whose "type" it names. Registered in DI; one dispatcher routes to it.</summary>
public interface IMessageHandler
{
    IReadOnlyCollection<string> Types { get; }

    /// <summary>
    /// Called in the connection's message order; awaiting here holds back the next message of that connection.
    /// The message element is only valid until the returned task completes: copy what must outlive it.
    /// </summary>
    ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct);
}
