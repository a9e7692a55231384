using System.Text.Json;
using System.Text.Unicode;

namespace IotWs.Gateway.Wire;

/// <summary>
/// Reads one received text frame as a JSON document that every handler can read without an exception:
/// valid UTF-8, valid JSON, at most 32 levels deep, no name twice in an object, and no lone surrogate anywhere.
/// </summary>
/// <remarks>
/// JSON allows a string to spell half of a surrogate pair as a 6-character escape (<c>"\ud800"</c>), which is
/// no character at all: System.Text.Json parses such a document but throws from <c>GetString()</c> and from
/// property names, long after the frame was accepted. So before parsing, each lone surrogate escape is rewritten
/// in place into <c>\uFFFD</c> (the same six bytes), and the message is read with U+FFFD there, as a UTF-8
/// decoder reads a broken sequence. A surrogate pair spelled as two escapes is a real character and is kept.
/// </remarks>
public static class WireMessage
{
    /// <summary>
    /// At most 32 levels, and every name once per object (RFC 7493 §2.3): with a name twice, one reader takes the first
    /// and another the last, so the dispatcher and a handler could disagree about the same message.
    /// </summary>
    public static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 32, AllowDuplicateProperties = false };

    public enum Outcome
    {
        Parsed,
        /// <summary>Not UTF-8: a WebSocket text frame must be (RFC 6455 §8.1), so this closes with 1007.</summary>
        NotUtf8,
        /// <summary>Not JSON: answered with invalid_json.</summary>
        NotJson,
    }

    /// <summary>Parses a frame. The bytes are rewritten in place (lone surrogate escapes → \uFFFD) and must outlive the document.</summary>
    public static Outcome TryParse(Memory<byte> frame, out JsonDocument? document, out string error)
    {
        document = null;
        error = "";
        if (!Utf8.IsValid(frame.Span))
        {
            error = "the text frame is not valid UTF-8";
            return Outcome.NotUtf8;
        }
        ReplaceLoneSurrogateEscapes(frame.Span);
        try
        {
            document = JsonDocument.Parse(frame, DocumentOptions);
            return Outcome.Parsed;
        }
        catch (JsonException e)
        {
            error = $"The message is not valid JSON: {e.Message}";
            return Outcome.NotJson;
        }
    }

    /// <summary>
    /// Reads JSON that arrives another way than a frame (an HTTP body, an MQTT payload) the same way: at most
    /// <paramref name="maxBytes"/>, lone surrogate escapes read as U+FFFD. Throws JsonException for what is not JSON.
    /// </summary>
    public static async Task<JsonDocument> ParseAsync(Stream body, int maxBytes, JsonDocumentOptions options, CancellationToken ct)
    {
        var buffer = new byte[Math.Min(maxBytes, 16 * 1024) + 1];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (length > maxBytes) throw new JsonException($"The body is larger than {maxBytes} bytes.");
                System.Array.Resize(ref buffer, Math.Min(buffer.Length * 2, maxBytes + 1));
            }
            var read = await body.ReadAsync(buffer.AsMemory(length), ct);
            if (read == 0) break;
            length += read;
        }
        if (length > maxBytes) throw new JsonException($"The body is larger than {maxBytes} bytes.");
        return Parse(buffer.AsMemory(0, length), options);
    }

    /// <summary>As <see cref="ParseAsync"/>, for bytes at hand (rewritten in place, so pass a copy you own).</summary>
    public static JsonDocument Parse(Memory<byte> json, JsonDocumentOptions options)
    {
        ReplaceLoneSurrogateEscapes(json.Span);
        return JsonDocument.Parse(json, options);
    }

    /// <summary>
    /// Rewrites every <c>\uXXXX</c> escape of an unpaired surrogate inside a JSON string into <c>\uFFFD</c>; returns
    /// how many. Text that is not valid JSON stays invalid (only hex digits of an escape change), so the parser still
    /// refuses it.
    /// </summary>
    public static int ReplaceLoneSurrogateEscapes(Span<byte> json)
    {
        if (json.IndexOf("\\u"u8) < 0) return 0;
        var replaced = 0;
        var inString = false;
        for (var i = 0; i < json.Length; i++)
        {
            var b = json[i];
            if (!inString)
            {
                if (b == (byte)'"') inString = true;
                continue;
            }
            if (b == (byte)'"')
            {
                inString = false;
                continue;
            }
            if (b != (byte)'\\') continue;
            if (i + 1 >= json.Length) break;
            if (json[i + 1] != (byte)'u' || !TryHex4(json, i + 2, out var unit))
            {
                i++; // a two-character escape (\" \\ \n …), or a broken one the parser will refuse
                continue;
            }
            if (char.IsHighSurrogate((char)unit) && i + 11 < json.Length
                && json[i + 6] == (byte)'\\' && json[i + 7] == (byte)'u'
                && TryHex4(json, i + 8, out var next) && char.IsLowSurrogate((char)next))
            {
                i += 11; // a whole pair
                continue;
            }
            if (char.IsSurrogate((char)unit))
            {
                "FFFD"u8.CopyTo(json.Slice(i + 2, 4));
                replaced++;
            }
            i += 5;
        }
        return replaced;
    }

    private static bool TryHex4(ReadOnlySpan<byte> json, int at, out int value)
    {
        value = 0;
        if (at + 4 > json.Length) return false;
        for (var k = 0; k < 4; k++)
        {
            var digit = HexValue(json[at + k]);
            if (digit < 0) return false;
            value = (value << 4) | digit;
        }
        return true;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
