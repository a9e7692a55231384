using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Connections;
using IotWs.Gateway.PubSub;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Streams;

/// <summary>A client's stream as it progresses: what has been received and where a file_upload is being written.</summary>
public sealed record StreamInfo(string ClientId, string StreamId, string StreamType, long Bytes, long Chunks, string? Path);

/// <summary>
/// The seed's streams: stream_start / stream_data / stream_end from authenticated clients. Chunks must come
/// in sequence from 0, within the size limits; they are relayed on streams/{streamId}, and file_upload
/// streams are written to a .part file under the uploads directory, renamed when the stream ends.
/// Anything wrong discards the stream (and its partial file).
/// </summary>
public sealed partial class StreamRelay : IDisposable
{
    public const string FileUpload = "file_upload";
    private const string ItemKey = "streams";
    private const string PartSuffix = ".part";

    /// <summary>One open stream of a connection.</summary>
    private sealed class OpenStream(string id, string type)
    {
        public string Id { get; } = id;
        public string Type { get; } = type;
        public long NextSequence { get; set; }
        public long Bytes { get; set; }
        public long Chunks { get; set; }
        public long? DeclaredSize { get; set; }
        public FileStream? File { get; set; }
        public string? PartPath { get; set; }
        public string? FinalPath { get; set; }
        /// <summary>True while its bytes count as an upload in progress against the quota.</summary>
        public bool Uploading { get; set; }
    }

    private readonly StreamOptions _options;
    private readonly ITopicBroker _broker;
    private readonly GatewayEvents _events;
    private readonly TimeProvider _time;
    private readonly ILogger<StreamRelay> _logger;
    private readonly string _dataDirectory;
    private long _completed;
    private long _discarded;
    private long _bytes;
    private int _open;
    // The upload quota: bytes of finished files in the uploads directory (re-read at each file_upload start, so
    // files an operator deletes free their space) and bytes written so far by uploads in progress.
    private readonly Lock _quota = new();
    private long _uploadedBytes;
    private long _uploadingBytes;

    public StreamRelay(IOptions<StreamOptions> options, IOptions<GatewayOptions> gateway, ITopicBroker broker, GatewayEvents events, TimeProvider time, ILogger<StreamRelay> logger)
    {
        _options = options.Value;
        _broker = broker;
        _events = events;
        _time = time;
        _logger = logger;
        _dataDirectory = Path.GetFullPath(gateway.Value.DataDirectory);
        UploadDirectory = Path.GetFullPath(string.IsNullOrWhiteSpace(_options.UploadDirectory)
            ? Path.Combine(gateway.Value.DataDirectory, "uploads")
            : _options.UploadDirectory);
        events.ClientDisconnected += DiscardAll;
    }

    public string UploadDirectory { get; }

    public event Action<StreamInfo>? StreamStarted;
    /// <summary>A chunk was accepted (Bytes and Chunks include it).</summary>
    public event Action<StreamInfo, long>? StreamData;
    public event Action<StreamInfo>? StreamEnded;

    public int OpenCount => Volatile.Read(ref _open);
    public long CompletedCount => Interlocked.Read(ref _completed);
    public long DiscardedCount => Interlocked.Read(ref _discarded);
    public long BytesReceived => Interlocked.Read(ref _bytes);

    public ValueTask StartAsync(ClientSession session, JsonElement message)
    {
        var id = JsonFields.RequiredString(message, Fields.StreamId);
        if (!Topics.IsValidTopic(Topics.Stream(id)))
            throw new MessageException(ErrorCodes.InvalidMessage, $"streamId '{id}' cannot name a topic: no '+', '#', empty '/' levels or control characters, at most {Topics.MaxLength - Topics.StreamsPrefix.Length} characters.");
        var type = JsonFields.OptionalString(message, Fields.StreamType) ?? "data";
        JsonObject? metadata = null;
        if (message.TryGetProperty(Fields.Metadata, out var m) && m.ValueKind != JsonValueKind.Null)
        {
            metadata = m.ValueKind == JsonValueKind.Object
                ? (JsonObject)WireJson.ToNode(m)!
                : throw new MessageException(ErrorCodes.InvalidMessage, "metadata must be an object.");
        }

        var streams = StreamsOf(session);
        lock (streams)
        {
            if (streams.ContainsKey(id))
                throw new MessageException(ErrorCodes.ValidationFailed, $"Stream '{id}' is already open on this connection.");
            if (streams.Count >= _options.MaxConcurrentPerConnection)
                throw new MessageException(ErrorCodes.RateLimited, $"At most {_options.MaxConcurrentPerConnection} open streams per connection: end one before starting '{id}'.");
        }
        long? declared = null;
        if (metadata?["size"] is JsonValue sizeValue && sizeValue.TryGetValue(out long size))
        {
            if (size > _options.MaxStreamBytes)
                throw new MessageException(ErrorCodes.PayloadTooLarge, $"Stream '{id}' declares {size} bytes; at most {_options.MaxStreamBytes} are accepted.");
            declared = size;
        }

        var stream = new OpenStream(id, type) { DeclaredSize = type == FileUpload ? declared : null };
        if (type == FileUpload)
        {
            Directory.CreateDirectory(UploadDirectory);
            ReserveUploadStart(id, declared ?? 0);
            var requested = metadata?["filename"] is JsonValue f && f.TryGetValue(out string? name) ? name : null;
            stream.FinalPath = UploadPath(SafeFileName(requested, id));
            stream.PartPath = stream.FinalPath + PartSuffix;
            stream.File = new FileStream(stream.PartPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true);
            stream.Uploading = true;
        }
        lock (streams) streams[id] = stream;
        Interlocked.Increment(ref _open);

        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.StreamStarted);
            w.WriteString(Fields.StreamId, id);
            w.WriteEndObject();
        });
        _broker.Publish(Topics.Stream(id), new JsonObject
        {
            [Fields.StreamId] = id,
            ["event"] = "start",
            [Fields.StreamType] = type,
            [Fields.Metadata] = metadata,
        }, session.ClientId, session.ClientId);
        if (session.DeviceId is { } deviceId) DeviceStreamOpened(_logger, session.ClientId, deviceId, id, type);
        else StreamOpened(_logger, session.ClientId, id, type);
        Raise(StreamStarted, Info(session, stream));
        return ValueTask.CompletedTask;
    }

    public async ValueTask DataAsync(ClientSession session, JsonElement message)
    {
        var id = JsonFields.RequiredString(message, Fields.StreamId);
        var stream = Find(session, id);
        long sequence;
        try
        {
            sequence = JsonFields.OptionalInteger(message, Fields.SequenceNumber)
                ?? throw new MessageException(ErrorCodes.ValidationFailed, "sequenceNumber is required");
        }
        catch (MessageException e)
        {
            throw Discard(session, stream, ErrorCodes.ValidationFailed, $"Stream '{id}': {e.Message} (expected sequenceNumber {stream.NextSequence}); the stream is discarded.");
        }
        if (sequence != stream.NextSequence)
            throw Discard(session, stream, ErrorCodes.ValidationFailed, $"Stream '{id}': expected sequenceNumber {stream.NextSequence}, got {sequence}; the stream is discarded.");
        if (!message.TryGetProperty(Fields.Data, out var data))
            throw Discard(session, stream, ErrorCodes.ValidationFailed, $"Stream '{id}': chunk {sequence} has no data; the stream is discarded.");

        JsonNode? relayed;
        long size;
        if (stream.File is { } file)
        {
            if (data.ValueKind != JsonValueKind.String)
                throw Discard(session, stream, ErrorCodes.ValidationFailed, $"Stream '{id}': chunk {sequence} of a file_upload must be a base64 string; the stream is discarded.");
            var text = data.GetString()!;
            var buffer = ArrayPool<byte>.Shared.Rent(text.Length / 4 * 3 + 3);
            try
            {
                if (!Convert.TryFromBase64String(text, buffer, out var written))
                    throw Discard(session, stream, ErrorCodes.ValidationFailed, $"Stream '{id}': chunk {sequence} is not valid base64; the stream is discarded.");
                size = written;
                CheckSize(session, stream, sequence, size);
                if (!TryTakeQuota(size))
                    throw Discard(session, stream, ErrorCodes.PayloadTooLarge, $"Stream '{id}': {QuotaFull()}; the stream is discarded.");
                try
                {
                    await file.WriteAsync(buffer.AsMemory(0, written));
                }
                catch (IOException e)
                {
                    lock (_quota) _uploadingBytes -= size;
                    throw Discard(session, stream, ErrorCodes.InternalError, $"Stream '{id}': the gateway could not write chunk {sequence} ({e.Message}); the stream is discarded.");
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            relayed = JsonValue.Create(text);
        }
        else
        {
            size = Encoding.UTF8.GetByteCount(data.GetRawText());
            CheckSize(session, stream, sequence, size);
            relayed = WireJson.ToNode(data);
        }

        stream.Bytes += size;
        stream.Chunks++;
        stream.NextSequence++;
        Interlocked.Add(ref _bytes, size);
        _broker.Publish(Topics.Stream(id), new JsonObject
        {
            [Fields.StreamId] = id,
            ["event"] = "data",
            [Fields.SequenceNumber] = sequence,
            [Fields.Data] = relayed,
        }, session.ClientId, session.ClientId);
        if (StreamData is { } handlers) Raise(handlers, Info(session, stream), size);
    }

    public async ValueTask EndAsync(ClientSession session, JsonElement message)
    {
        var id = JsonFields.RequiredString(message, Fields.StreamId);
        var stream = Find(session, id);
        string? relativePath = null;
        if (stream.File is { } file)
        {
            if (stream.DeclaredSize is { } declared && declared != stream.Bytes)
                throw Discard(session, stream, ErrorCodes.ValidationFailed, $"Stream '{id}': metadata.size was {declared} bytes but {stream.Bytes} arrived; the stream is discarded.");
            try
            {
                await file.FlushAsync();
                await file.DisposeAsync();
                stream.File = null;
                File.Move(stream.PartPath!, stream.FinalPath!);
                lock (_quota)
                {
                    _uploadingBytes -= stream.Bytes;
                    _uploadedBytes += stream.Bytes;
                    stream.Uploading = false;
                }
            }
            catch (IOException e)
            {
                throw Discard(session, stream, ErrorCodes.InternalError, $"Stream '{id}': the gateway could not save the file ({e.Message}); the stream is discarded.");
            }
            relativePath = Path.GetRelativePath(_dataDirectory, stream.FinalPath!).Replace(Path.DirectorySeparatorChar, '/');
        }
        Remove(session, stream);
        Interlocked.Increment(ref _completed);

        session.Send(w =>
        {
            w.WriteStartObject();
            w.WriteString(Fields.Type, MessageTypes.StreamEnded);
            w.WriteString(Fields.StreamId, id);
            w.WriteNumber(Fields.Bytes, stream.Bytes);
            w.WriteNumber("chunks", stream.Chunks);
            if (relativePath is not null) w.WriteString("path", relativePath);
            w.WriteEndObject();
        });
        _broker.Publish(Topics.Stream(id), new JsonObject
        {
            [Fields.StreamId] = id,
            ["event"] = "end",
            [Fields.Bytes] = stream.Bytes,
            ["chunks"] = stream.Chunks,
        }, session.ClientId, session.ClientId);
        if (relativePath is not null) UploadClosed(_logger, session.ClientId, id, stream.Bytes, stream.Chunks, relativePath);
        else StreamClosed(_logger, session.ClientId, id, stream.Bytes, stream.Chunks);
        Raise(StreamEnded, Info(session, stream));
    }

    /// <summary>A file name that cannot leave the uploads directory, whatever metadata.filename says.</summary>
    internal string SafeFileName(string? requested, string streamId)
    {
        var name = (requested ?? streamId).Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        var safe = new StringBuilder(name.Length);
        foreach (var c in name) safe.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        var cleaned = safe.ToString().TrimStart('.');
        if (cleaned.Length > 100) cleaned = cleaned[^100..];
        if (cleaned.Length == 0) cleaned = "upload";
        // Time and a random tag keep two uploads of the same name apart and never overwrite anything.
        var stamp = _time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        return $"{stamp}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}_{cleaned}";
    }

    private string UploadPath(string fileName)
    {
        var full = Path.GetFullPath(Path.Combine(UploadDirectory, fileName));
        if (!full.StartsWith(UploadDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new MessageException(ErrorCodes.ValidationFailed, "The upload's file name is not usable.");
        return full;
    }

    private void CheckSize(ClientSession session, OpenStream stream, long sequence, long size)
    {
        if (size > _options.MaxChunkBytes)
            throw Discard(session, stream, ErrorCodes.PayloadTooLarge, $"Stream '{stream.Id}': chunk {sequence} has {size} bytes, more than the {_options.MaxChunkBytes} allowed; the stream is discarded.");
        if (stream.Bytes + size > _options.MaxStreamBytes)
            throw Discard(session, stream, ErrorCodes.PayloadTooLarge, $"Stream '{stream.Id}': {stream.Bytes + size} bytes would exceed the {_options.MaxStreamBytes} allowed per stream; the stream is discarded.");
    }

    /// <summary>Refuses a file_upload when the uploads directory is already at its quota (or its declared size would pass it).</summary>
    private void ReserveUploadStart(string id, long declared)
    {
        lock (_quota)
        {
            _uploadedBytes = FinishedUploadBytes();
            if (_uploadedBytes + _uploadingBytes + Math.Max(declared, 1) > _options.MaxUploadBytes)
                throw new MessageException(ErrorCodes.PayloadTooLarge, $"Stream '{id}' refused: {QuotaFull()}.");
        }
    }

    private bool TryTakeQuota(long size)
    {
        lock (_quota)
        {
            if (_uploadedBytes + _uploadingBytes + size > _options.MaxUploadBytes) return false;
            _uploadingBytes += size;
            return true;
        }
    }

    private string QuotaFull()
    {
        lock (_quota)
        {
            return $"the uploads directory holds {_uploadedBytes + _uploadingBytes} bytes of its {_options.MaxUploadBytes}-byte quota ({StreamOptions.Section}:MaxUploadBytes); delete old uploads to make room";
        }
    }

    private long FinishedUploadBytes()
    {
        long total = 0;
        foreach (var file in new DirectoryInfo(UploadDirectory).EnumerateFiles())
        {
            if (!file.Name.EndsWith(PartSuffix, StringComparison.Ordinal)) total += file.Length;
        }
        return total;
    }

    private static Dictionary<string, OpenStream> StreamsOf(ClientSession session) =>
        (Dictionary<string, OpenStream>)session.Items.GetOrAdd(ItemKey, _ => new Dictionary<string, OpenStream>(StringComparer.Ordinal));

    private static OpenStream Find(ClientSession session, string id)
    {
        var streams = StreamsOf(session);
        lock (streams)
        {
            return streams.TryGetValue(id, out var stream)
                ? stream
                : throw new MessageException(ErrorCodes.ValidationFailed, $"No open stream '{id}' on this connection: send stream_start first (a discarded stream must be started again).");
        }
    }

    private void Remove(ClientSession session, OpenStream stream)
    {
        var streams = StreamsOf(session);
        lock (streams)
        {
            if (streams.Remove(stream.Id)) Interlocked.Decrement(ref _open);
        }
    }

    /// <summary>Drops the stream and its partial file, tells subscribers, and returns the error for the sender.</summary>
    private MessageException Discard(ClientSession session, OpenStream stream, string code, string reason)
    {
        Remove(session, stream);
        DeletePartial(stream);
        Interlocked.Increment(ref _discarded);
        StreamDiscarded(_logger, session.ClientId, stream.Id, reason);
        _broker.Publish(Topics.Stream(stream.Id), new JsonObject
        {
            [Fields.StreamId] = stream.Id,
            ["event"] = "aborted",
            [Fields.Reason] = reason,
        }, session.ClientId, session.ClientId);
        return new MessageException(code, reason);
    }

    private void DeletePartial(OpenStream stream)
    {
        lock (_quota)
        {
            if (stream.Uploading) _uploadingBytes -= stream.Bytes;
            stream.Uploading = false;
        }
        try
        {
            stream.File?.Dispose();
            stream.File = null;
            if (stream.PartPath is { } part && File.Exists(part)) File.Delete(part);
        }
        catch (IOException e)
        {
            PartialNotDeleted(_logger, e, stream.PartPath);
        }
    }

    /// <summary>A connection that goes away takes its unfinished streams with it.</summary>
    private void DiscardAll(ClientSession session)
    {
        if (!session.TryGetItem(ItemKey, out var item)) return;
        var streams = (Dictionary<string, OpenStream>)item;
        OpenStream[] open;
        lock (streams) open = [.. streams.Values];
        foreach (var stream in open)
        {
            Remove(session, stream);
            DeletePartial(stream);
            Interlocked.Increment(ref _discarded);
            StreamDiscarded(_logger, session.ClientId, stream.Id, "connection closed before stream_end");
        }
    }

    private static StreamInfo Info(ClientSession session, OpenStream stream) =>
        new(session.ClientId, stream.Id, stream.Type, stream.Bytes, stream.Chunks, stream.FinalPath);

    private void Raise<T>(Action<T>? handlers, T arg)
    {
        try { handlers?.Invoke(arg); }
        catch (Exception e) { ObserverFailed(_logger, e); }
    }

    private void Raise<T1, T2>(Action<T1, T2> handlers, T1 a, T2 b)
    {
        try { handlers(a, b); }
        catch (Exception e) { ObserverFailed(_logger, e); }
    }

    public void Dispose() => _events.ClientDisconnected -= DiscardAll;

    // No template is given a null: it would print "(null)". Optional parts get a message of their own.
    [LoggerMessage(401, LogLevel.Information, "Client {ClientId} started stream {StreamId} ({StreamType})")]
    private static partial void StreamOpened(ILogger logger, string clientId, string streamId, string streamType);

    [LoggerMessage(406, LogLevel.Information, "Client {ClientId} of device {DeviceId} started stream {StreamId} ({StreamType})")]
    private static partial void DeviceStreamOpened(ILogger logger, string clientId, string deviceId, string streamId, string streamType);

    [LoggerMessage(402, LogLevel.Information, "Client {ClientId} ended stream {StreamId}: {Bytes} bytes in {Chunks} chunks")]
    private static partial void StreamClosed(ILogger logger, string clientId, string streamId, long bytes, long chunks);

    [LoggerMessage(407, LogLevel.Information, "Client {ClientId} ended stream {StreamId}: {Bytes} bytes in {Chunks} chunks, saved as {Path}")]
    private static partial void UploadClosed(ILogger logger, string clientId, string streamId, long bytes, long chunks, string path);

    [LoggerMessage(403, LogLevel.Warning, "Client {ClientId}: stream {StreamId} discarded: {Reason}")]
    private static partial void StreamDiscarded(ILogger logger, string clientId, string streamId, string reason);

    [LoggerMessage(404, LogLevel.Warning, "Could not delete the partial upload {Path}")]
    private static partial void PartialNotDeleted(ILogger logger, Exception e, string? path);

    [LoggerMessage(405, LogLevel.Error, "A stream event observer failed")]
    private static partial void ObserverFailed(ILogger logger, Exception e);
}
