using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Status;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Streams;

/// <summary>Registers the stream relay and its message handler.</summary>
public static class StreamServices
{
    public static IServiceCollection AddStreams(this IServiceCollection services)
    {
        services.AddOptions<StreamOptions>().BindConfiguration(StreamOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<StreamOptions>, StreamOptionsValidator>();
        services.AddSingleton<StreamRelay>();
        services.AddSingleton<IMessageHandler, StreamHandlers>();
        services.AddSingleton<IStatusContributor, StreamStatus>();
        return services;
    }
}

/// <summary>stream_start / stream_data / stream_end → the stream relay (the dispatcher has already required auth; a viewer may not stream).</summary>
internal sealed class StreamHandlers(StreamRelay relay) : IMessageHandler
{
    public IReadOnlyCollection<string> Types { get; } = [MessageTypes.StreamStart, MessageTypes.StreamData, MessageTypes.StreamEnd];

    public ValueTask HandleAsync(ClientSession session, JsonElement message, CancellationToken ct) =>
        !session.MayWrite() ? throw new MessageException(ErrorCodes.Forbidden, session.WriteRefusal("streams"))
        : message.GetProperty(Fields.Type).GetString() switch
        {
            MessageTypes.StreamStart => relay.StartAsync(session, message),
            MessageTypes.StreamData => relay.DataAsync(session, message),
            _ => relay.EndAsync(session, message),
        };
}

/// <summary>The "streams" section of /api/status.</summary>
internal sealed class StreamStatus(StreamRelay relay) : IStatusContributor
{
    public string Section => "streams";

    public JsonNode? Snapshot() => new JsonObject
    {
        ["open"] = relay.OpenCount,
        ["completed"] = relay.CompletedCount,
        ["discarded"] = relay.DiscardedCount,
        ["bytesReceived"] = relay.BytesReceived,
    };
}
