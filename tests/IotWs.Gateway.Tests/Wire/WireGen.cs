using System.Globalization;
using System.Text;
using CsCheck;
using IotWs.Protocol;

namespace IotWs.Gateway.Tests.Wire;

/// <summary>
/// CsCheck generators of what a hostile or broken peer may send: JSON text built from the protocol's own field names
/// and message types, strings with every kind of escape (lone surrogates, controls, pairs, \u0000), numbers JSON allows
/// but .NET cannot hold, nesting past the parser's limit, and byte-level mutations of all of it.
/// </summary>
internal static class WireGen
{
    private static readonly string[] FieldNames =
    [
        Fields.Type, Fields.RequestId, Fields.Token, Fields.DeviceId, Fields.ClientType, Fields.BootId, Fields.Seq,
        Fields.HeartbeatInterval, Fields.Capabilities, Fields.Version, Fields.Timestamp, Fields.Data, Fields.DataType,
        Fields.Batch, Fields.Temperature, Fields.Humidity, Fields.SensorId, Fields.Location, Fields.Topic, Fields.Endpoint,
        "method", "params", "streamId", "streamType", "sequenceNumber", "metadata", Fields.Cursor, "limit", "from", "to",
        "resolution", "timeoutMs", "persistent", "ttlSeconds", "idempotencyKey", "values", "filename", "size", Fields.Success,
        Fields.Error, "battery_level",
    ];

    private static readonly string[] MessageTypeNames =
    [
        MessageTypes.Handshake, MessageTypes.Auth, MessageTypes.Heartbeat, MessageTypes.Data, MessageTypes.SensorData,
        MessageTypes.Request, MessageTypes.Response, "rpc_call", "subscribe", "unsubscribe", "publish", "stream_start",
        "stream_data", "stream_end", MessageTypes.Welcome, MessageTypes.Error, "teleport",
    ];

    /// <summary>The inside of a JSON string: plain text, escapes of every kind, and any \uXXXX at all.</summary>
    public static readonly Gen<string> StringBody =
        Gen.OneOf<string>(
            Gen.Char['a', 'z'].Select(c => c.ToString()),
            Gen.OneOf("ü", "😀", "<", "&", "'", "+", "/", "#", "devices/", "esp-", " ", "9", "=SUM(A1)", "sensor", "file_upload"),
            Gen.OneOf("\\n", "\\\"", "\\\\", "\\/", "\\u0000", "\\u0001", "\\u001f", "\\ud800", "\\udc00", "\\udbff\\udfff", "\\ud83d\\ude00", "\\ud83d", "\\uFFFF", "\\uFEFF"),
            Gen.Int[0, 0xFFFF].Select(i => "\\u" + i.ToString("x4", CultureInfo.InvariantCulture)))
        .List[0, 10].Select(parts => string.Concat(parts));

    public static readonly Gen<string> JsonString = StringBody.Select(b => "\"" + b + "\"");

    public static readonly Gen<string> JsonNumber = Gen.OneOf<string>(
        Gen.OneOf("0", "-0", "1", "-7", "1.5", "0.1", "1e400", "-1e400", "1E-400", "9007199254740993", "123456789012345678901234567890",
            "3600001", "99", "100", "-40", "80", "-40.1", "80.0001", "1732190400000", "99999999999999999999", "2147483648", "-9223372036854775809"),
        Gen.Int.Select(i => i.ToString(CultureInfo.InvariantCulture)),
        Gen.Long.Select(l => l.ToString(CultureInfo.InvariantCulture)),
        Gen.Double.Select(d => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "1"));

    public static readonly Gen<string> Name = Gen.OneOf<string>(Gen.OneOf(FieldNames), StringBody).Select(n => "\"" + n + "\"");

    private static readonly Gen<string> Leaf = Gen.OneOf<string>(
        Gen.OneOf("null", "true", "false", "{}", "[]", "\"\"", "\"raw\"", "\"sensor\"", "\"application\"", "\"file_upload\"", "\"#\"",
            "\"2026-11-21T12:00:00Z\"", "\"2019-01-01\"", "\"1e3\"", "\"devices/esp-prop/x\""),
        JsonString, JsonNumber,
        // Nesting past the parser's 32 levels.
        Gen.Int[1, 40].Select(n => new string('[', n) + new string(']', n)));

    /// <summary>Any JSON value, nested a few levels.</summary>
    public static Gen<string> Value(int depth) =>
        depth == 0 ? Leaf : Gen.OneOf<string>(Leaf, Leaf, Array(depth - 1), Object(depth - 1));

    private static Gen<string> Array(int depth) => Value(depth).Array[0, 4].Select(items => "[" + string.Join(",", items) + "]");

    private static Gen<string> Object(int depth) =>
        Gen.Select(Name, Value(depth), (n, v) => n + ":" + v).Array[0, 6].Select(pairs => "{" + string.Join(",", pairs) + "}");

    /// <summary>A message: an object whose type is (mostly) one of the protocol's, with any fields.</summary>
    public static readonly Gen<string> Message = Gen.Select(
        Gen.OneOf<string>(Gen.OneOf(MessageTypeNames).Select(t => "\"" + t + "\""), JsonString, Leaf),
        Gen.Select(Name, Value(3), (n, v) => "," + n + ":" + v).Array[0, 7],
        (type, fields) => "{\"type\":" + type + string.Concat(fields) + "}");

    private static readonly Gen<string> Temperature = Gen.OneOf<string>(Gen.Double[-40, 80].Select(Number), Gen.Double[-40, 80].Select(Number), Value(1));
    private static readonly Gen<string> Humidity = Gen.OneOf<string>(Gen.Double[0, 100].Select(Number), Gen.Double[0, 100].Select(Number), Value(1));

    /// <summary>
    /// A reading-shaped "data" or "sensor_data" message: mostly a plausible reading (numbers in range) with any other
    /// fields and values around it, each name once, so that the parser's later checks are reached too.
    /// </summary>
    public static readonly Gen<string> Reading = Gen.Select(
        Gen.OneOf("\"data\"", "\"sensor_data\""),
        Gen.Select(Gen.OneOf(FieldNames), Value(2)).Array[0, 6],
        Gen.Select(Temperature, Humidity),
        Gen.Select(Gen.OneOf(Fields.SensorId, Fields.Location, "battery_level", "rssi", "x", Fields.Timestamp), Value(1)).Array[0, 4],
        Gen.Bool,
        (type, envelope, metrics, extra, asBatch) =>
        {
            var data = new[] { (Fields.Temperature, metrics.Item1), (Fields.Humidity, metrics.Item2) }.Concat(extra);
            var inner = "{" + Pairs(data, []) + "}";
            var body = asBatch ? "\"batch\":[{\"data\":" + inner + ",\"seq\":1},{\"data\":" + inner + "},7]" : "\"data\":" + inner;
            var rest = Pairs(envelope, [Fields.Type, Fields.Data, Fields.Batch]);
            return "{\"type\":" + type + "," + body + (rest.Length > 0 ? "," + rest : "") + "}";
        });

    private static string Number(double d) => d.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>"name":value pairs, each name once (a name twice is refused before any parser sees it).</summary>
    private static string Pairs(IEnumerable<(string Name, string Value)> pairs, string[] taken) =>
        string.Join(",", pairs.Where(p => !taken.Contains(p.Name)).DistinctBy(p => p.Name).Select(p => "\"" + p.Name + "\":" + p.Value));

    /// <summary>Bytes of a message, now and then broken: cut short, a byte changed, or a byte put in.</summary>
    public static readonly Gen<byte[]> Frame = Gen.Select(Gen.OneOf(Message, Reading), Gen.Int[0, 3], Gen.Int[0, 4096], Gen.Byte,
        (text, how, at, b) =>
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            if (bytes.Length == 0) return bytes;
            var i = at % bytes.Length;
            return how switch
            {
                1 => bytes[..i],
                2 => [.. bytes[..i], b, .. bytes[(i + 1)..]],
                3 => [.. bytes[..i], b, .. bytes[i..]],
                _ => bytes,
            };
        });
}
