using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Readings;

/// <summary>
/// Turns "data" and "sensor_data" messages into store requests. Every check names the field and why it
/// failed ("humidity 140 is outside 0..100"); a refused reading becomes an entry that is answered but stored nowhere.
/// </summary>
public sealed partial class ReadingParser(IOptions<GatewayOptions> options, FieldProtector protector)
{
    /// <summary>Most readings one batch message may carry.</summary>
    public const int MaxBatch = 1000;
    private const int MaxTextLength = 256;
    /// <summary>Longer than any ISO-8601 time; bounds the deviceTimestamp a reading keeps (and so a reading's size).</summary>
    private const int MaxTimestampLength = 64;
    private static readonly long LatestPlausibleSkewMs = (long)TimeSpan.FromDays(1).TotalMilliseconds;
    private static readonly long MaxEpochMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    // Envelope and reading fields that are columns of their own, not "extra" data.
    private static readonly HashSet<string> LegacyEnvelope = new(StringComparer.Ordinal)
    {
        Fields.Type, Fields.DataType, Fields.Timestamp, Fields.Seq, Fields.BootId, Fields.RequestId,
    };
    private static readonly HashSet<string> ReadingColumns = new(StringComparer.Ordinal)
    {
        Fields.Temperature, Fields.Humidity, Fields.SensorId, Fields.Location,
    };

    private readonly string[] _required = options.Value.RequiredFields.Where(f => !string.IsNullOrWhiteSpace(f)).ToArray();

    [GeneratedRegex("^[A-Za-z0-9_.:-]{1,64}$")]
    private static partial Regex DataTypePattern();

    /// <summary>The topic a non-sensor dataType's events are published on.</summary>
    public static string EventTopic(string dataType) => "data/" + dataType;

    public StoreRequest Parse(JsonElement message, ClientSession session, DateTimeOffset receivedAt, IStoreCompletion completion)
    {
        var type = message.TryGetProperty(Fields.Type, out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (type == MessageTypes.SensorData)
        {
            return session.IsDevice ? Single(message, message, LegacyEnvelope, session, receivedAt, completion) : Forbidden(session, message, completion);
        }

        var dataType = ProtocolInfo.DataTypeSensor;
        if (message.TryGetProperty(Fields.DataType, out var dt) && dt.ValueKind != JsonValueKind.Null)
        {
            if (dt.ValueKind != JsonValueKind.String) return Refuse(session, null, $"dataType must be a string, not {Kind(dt)}", completion);
            dataType = dt.GetString()!;
        }
        if (dataType != ProtocolInfo.DataTypeSensor) return Event(message, dataType, session, receivedAt, completion);
        if (!session.IsDevice) return Forbidden(session, message, completion);
        if (message.TryGetProperty(Fields.Batch, out var batch) && batch.ValueKind != JsonValueKind.Null)
        {
            return Batch(message, batch, session, receivedAt, completion);
        }
        if (!message.TryGetProperty(Fields.Data, out var data) || data.ValueKind == JsonValueKind.Null)
        {
            return Refuse(session, SeqOf(message), "data is required: an object with temperature and humidity", completion);
        }
        if (data.ValueKind != JsonValueKind.Object)
        {
            return Refuse(session, SeqOf(message), $"data must be an object, not {Kind(data)}", completion);
        }
        return Single(message, data, ReadingColumnsOnly, session, receivedAt, completion);
    }

    // In the seed form the data object holds only reading fields, so nothing of it is envelope.
    private static readonly HashSet<string> ReadingColumnsOnly = new(StringComparer.Ordinal);

    private StoreRequest Single(JsonElement envelope, JsonElement data, HashSet<string> envelopeNames, ClientSession session, DateTimeOffset receivedAt, IStoreCompletion completion)
    {
        var entry = Reading(envelope, data, envelopeNames, null, session, receivedAt);
        return new StoreRequest([entry], isBatch: false, completion, session);
    }

    private StoreRequest Batch(JsonElement message, JsonElement batch, ClientSession session, DateTimeOffset receivedAt, IStoreCompletion completion)
    {
        if (batch.ValueKind != JsonValueKind.Array) return Refuse(session, null, $"batch must be an array, not {Kind(batch)}", completion);
        var count = batch.GetArrayLength();
        if (count == 0) return Refuse(session, null, "batch must hold at least one reading", completion);
        if (count > MaxBatch) return Refuse(session, null, $"batch holds {count} readings; at most {MaxBatch} per message", completion);
        var entries = new ReadingEntry[count];
        var i = 0;
        foreach (var item in batch.EnumerateArray())
        {
            entries[i] = item.ValueKind != JsonValueKind.Object
                ? ReadingEntry.Refused(session.DeviceId!, null, ErrorCodes.ValidationFailed, $"batch[{i}] must be an object, not {Kind(item)}")
                : BatchItem(message, item, session, receivedAt);
            i++;
        }
        return new StoreRequest(entries, isBatch: true, completion, session);
    }

    private ReadingEntry BatchItem(JsonElement message, JsonElement item, ClientSession session, DateTimeOffset receivedAt)
    {
        if (!item.TryGetProperty(Fields.Data, out var data) || data.ValueKind != JsonValueKind.Object)
        {
            var why = item.TryGetProperty(Fields.Data, out var d) ? $"data must be an object, not {Kind(d)}" : "data is required: an object with temperature and humidity";
            return ReadingEntry.Refused(session.DeviceId!, SeqOf(item), ErrorCodes.ValidationFailed, why);
        }
        // An item without its own bootId belongs to the batch's, else to the connection's boot.
        return Reading(item, data, ReadingColumnsOnly, message, session, receivedAt);
    }

    /// <summary>Validates one reading: envelope fields from <paramref name="envelope"/>, reading fields from <paramref name="data"/>.</summary>
    private ReadingEntry Reading(JsonElement envelope, JsonElement data, HashSet<string> envelopeNames, JsonElement? batchMessage, ClientSession session, DateTimeOffset receivedAt)
    {
        var deviceId = session.DeviceId!;
        if (!TryInteger(envelope, Fields.Seq, out var seq, out var error)) return Refused(deviceId, null, error);
        if (!TryInteger(envelope, Fields.BootId, out var boot, out error)) return Refused(deviceId, seq, error);
        if (boot is null && batchMessage is { } outer && !TryInteger(outer, Fields.BootId, out boot, out error)) return Refused(deviceId, seq, error);
        boot ??= session.BootId;
        if (!TryTimestamp(envelope, receivedAt, out var timestamp, out var deviceTimestamp, out error)) return Refused(deviceId, seq, error);

        if (!TryMetric(data, Fields.Temperature, out var temperature, out error)) return Refused(deviceId, seq, error);
        if (!TryMetric(data, Fields.Humidity, out var humidity, out error)) return Refused(deviceId, seq, error);
        if ((error = ReadingRules.CheckTemperature(temperature)) is not null) return Refused(deviceId, seq, error);
        if ((error = ReadingRules.CheckHumidity(humidity)) is not null) return Refused(deviceId, seq, error);
        if (!TryText(data, Fields.SensorId, out var sensorId, out error)) return Refused(deviceId, seq, error);
        if (!TryText(data, Fields.Location, out var location, out error)) return Refused(deviceId, seq, error);
        foreach (var field in _required)
        {
            if (!Has(data, field) && !Has(envelope, field)) return Refused(deviceId, seq, $"{field} is required (Gateway:RequiredFields)");
        }

        return new ReadingEntry
        {
            DeviceId = deviceId,
            BootId = boot,
            Seq = seq,
            Timestamp = timestamp,
            DeviceTimestamp = deviceTimestamp,
            Temperature = temperature,
            Humidity = humidity,
            SensorId = sensorId,
            Location = location,
            StoredSensorId = protector.ForStorage(Fields.SensorId, sensorId),
            StoredLocation = protector.ForStorage(Fields.Location, location),
            StoredExtra = Extra(data, envelopeNames),
        };
    }

    private StoreRequest Event(JsonElement message, string dataType, ClientSession session, DateTimeOffset receivedAt, IStoreCompletion completion)
    {
        if (!DataTypePattern().IsMatch(dataType))
            return Refuse(session, null, $"dataType '{Shorten(dataType)}' must be 1-64 letters, digits, '_', '.', ':' or '-' (it names the topic data/{{dataType}})", completion);
        if (!TryInteger(message, Fields.Seq, out var seq, out var error)) return Refuse(session, null, error, completion);
        if (!TryInteger(message, Fields.BootId, out var boot, out error)) return Refuse(session, seq, error, completion);
        if (!TryTimestamp(message, receivedAt, out var timestamp, out _, out error)) return Refuse(session, seq, error, completion);
        if (!message.TryGetProperty(Fields.Data, out var data) || data.ValueKind == JsonValueKind.Null)
            return Refuse(session, seq, "data is required", completion);

        var plain = Encoding.UTF8.GetString(WireJson.Write(w => WireJson.WriteElement(w, data)));
        var stored = data.ValueKind == JsonValueKind.Object && protector.Any
            ? Encoding.UTF8.GetString(WireJson.Write(w => WriteObject(w, data, null)))
            : plain;
        var entry = new EventEntry
        {
            DataType = dataType,
            ClientId = session.ClientId,
            DeviceId = session.DeviceId,
            Principal = session.Principal,
            BootId = boot ?? (session.IsDevice ? session.BootId : null),
            Seq = seq,
            Timestamp = timestamp,
            DataJson = plain,
            StoredDataJson = stored,
        };
        return new StoreRequest(entry, completion, session);
    }

    private static StoreRequest Forbidden(ClientSession session, JsonElement message, IStoreCompletion completion) =>
        new([ReadingEntry.Refused(session.DeviceId ?? "", SeqOf(message), ErrorCodes.Forbidden,
            $"Role '{session.Role}' may not store sensor readings: only a device (with its own token) may. Other data types (dataType application, service, …) are accepted.")],
            isBatch: false, completion, session);

    private static StoreRequest Refuse(ClientSession session, long? seq, string message, IStoreCompletion completion) =>
        new([ReadingEntry.Refused(session.DeviceId ?? "", seq, ErrorCodes.ValidationFailed, message)], isBatch: false, completion, session);

    private static ReadingEntry Refused(string deviceId, long? seq, string message) =>
        ReadingEntry.Refused(deviceId, seq, ErrorCodes.ValidationFailed, message);

    /// <summary>The data fields that have no column of their own, as a JSON object (listed fields encrypted); null when none.</summary>
    private string? Extra(JsonElement data, HashSet<string> envelopeNames)
    {
        var any = false;
        foreach (var p in data.EnumerateObject())
        {
            if (!ReadingColumns.Contains(p.Name) && !envelopeNames.Contains(p.Name))
            {
                any = true;
                break;
            }
        }
        return any ? Encoding.UTF8.GetString(WireJson.Write(w => WriteObject(w, data, envelopeNames))) : null;
    }

    private void WriteObject(Utf8JsonWriter w, JsonElement obj, HashSet<string>? skip)
    {
        w.WriteStartObject();
        foreach (var p in obj.EnumerateObject())
        {
            if (skip is not null && (ReadingColumns.Contains(p.Name) || skip.Contains(p.Name))) continue;
            w.WritePropertyName(WireJson.Clean(p.Name));
            if (protector.Encrypts(p.Name) && p.Value.ValueKind != JsonValueKind.Null)
            {
                w.WriteStringValue(protector.Protect(Encoding.UTF8.GetString(WireJson.Write(x => WireJson.WriteElement(x, p.Value)))));
            }
            else
            {
                WireJson.WriteElement(w, p.Value);
            }
        }
        w.WriteEndObject();
    }

    private static bool TryMetric(JsonElement data, string name, out double value, out string error)
    {
        value = 0;
        error = "";
        if (!data.TryGetProperty(name, out var e))
        {
            error = $"{name} is required";
            return false;
        }
        if (e.ValueKind != JsonValueKind.Number)
        {
            error = $"{name} must be a number, not {Kind(e)}";
            return false;
        }
        if (!e.TryGetDouble(out value) || !double.IsFinite(value))
        {
            error = $"{name} {Shorten(e.GetRawText())} is not a finite number";
            return false;
        }
        return true;
    }

    private static bool TryText(JsonElement data, string name, out string? value, out string error)
    {
        value = null;
        error = "";
        if (!data.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return true;
        if (e.ValueKind == JsonValueKind.String) value = WireJson.Clean(e.GetString()!);
        else if (e.ValueKind == JsonValueKind.Number) value = e.GetRawText();
        else
        {
            error = $"{name} must be a string, not {Kind(e)}";
            return false;
        }
        if (value.Length > MaxTextLength)
        {
            error = $"{name} is {value.Length} characters long; at most {MaxTextLength}";
            return false;
        }
        return true;
    }

    /// <summary>An optional non-negative integer envelope field (seq, bootId).</summary>
    internal static bool TryInteger(JsonElement holder, string name, out long? value, out string error)
    {
        value = null;
        error = "";
        if (!holder.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return true;
        if (e.ValueKind != JsonValueKind.Number)
        {
            error = $"{name} must be an integer, not {Kind(e)}";
            return false;
        }
        if (e.TryGetInt64(out var l))
        {
            value = l;
        }
        else if (e.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e15)
        {
            value = (long)d;
        }
        else
        {
            error = $"{name} {Shorten(e.GetRawText())} is not an integer";
            return false;
        }
        if (value < 0)
        {
            error = $"{name} {value} must not be negative";
            value = null;
            return false;
        }
        return true;
    }

    /// <summary>
    /// The reading's time: an ISO-8601 string or epoch milliseconds. A value before 2020 (the seed sketch's millis())
    /// or more than a day ahead of the gateway is kept as the device's timestamp and the reading is dated on arrival.
    /// </summary>
    internal static bool TryTimestamp(JsonElement holder, DateTimeOffset receivedAt, out DateTimeOffset timestamp, out object? deviceTimestamp, out string error)
    {
        timestamp = receivedAt;
        deviceTimestamp = null;
        error = "";
        if (!holder.TryGetProperty(Fields.Timestamp, out var e) || e.ValueKind == JsonValueKind.Null) return true;
        long? epochMs = null;
        DateTimeOffset? parsed = null;
        object original;
        switch (e.ValueKind)
        {
            case JsonValueKind.Number when e.TryGetInt64(out var ms):
                epochMs = ms;
                original = ms;
                break;
            case JsonValueKind.Number when e.TryGetDouble(out var d) && double.IsFinite(d):
                epochMs = d is > long.MinValue and < long.MaxValue ? (long)Math.Floor(d) : null;
                original = d;
                break;
            case JsonValueKind.String:
                var s = e.GetString()!;
                if (s.Length > MaxTimestampLength)
                {
                    error = $"timestamp is {s.Length} characters long; at most {MaxTimestampLength}";
                    return false;
                }
                original = WireJson.Clean(s);
                if (s.Length is > 0 and <= 18 && s.All(char.IsAsciiDigit))
                {
                    epochMs = long.Parse(s, CultureInfo.InvariantCulture);
                }
                else if (DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var iso))
                {
                    parsed = iso;
                }
                else
                {
                    error = $"timestamp '{Shorten(s)}' is neither an ISO-8601 time nor epoch milliseconds";
                    return false;
                }
                break;
            default:
                error = $"timestamp must be an ISO-8601 string or epoch milliseconds, not {Kind(e)}";
                return false;
        }
        if (epochMs is { } m && m >= 0 && m <= MaxEpochMs) parsed = DateTimeOffset.FromUnixTimeMilliseconds(m);
        var plausible = parsed is { } p
            && p.ToUnixTimeMilliseconds() >= ReadingRules.PlausibleEpochMs
            && p.ToUnixTimeMilliseconds() <= receivedAt.ToUnixTimeMilliseconds() + LatestPlausibleSkewMs;
        if (plausible)
        {
            timestamp = parsed!.Value;
        }
        else
        {
            deviceTimestamp = original;
        }
        return true;
    }

    private static long? SeqOf(JsonElement holder) =>
        holder.ValueKind == JsonValueKind.Object && TryInteger(holder, Fields.Seq, out var seq, out _) ? seq : null;

    private static bool Has(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Null => "null",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Number => "a number",
        _ => "missing",
    };

    private static string Shorten(string s) => WireJson.Clean(s.Length <= 40 ? s : s[..40] + "…");
}
