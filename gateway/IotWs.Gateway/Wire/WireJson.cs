using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IotWs.Gateway.Wire;

/// <summary>
/// Writes JSON the way every peer can read it: raw UTF-8, no \uXXXX escapes and no \/ —
/// nanoFramework.Json mis-decodes both. Control characters that JSON cannot carry raw are
/// replaced with U+FFFD instead of being escaped.
/// </summary>
public static class WireJson
{
    public static readonly JavaScriptEncoder Encoder = new RawUtf8Encoder();

    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = Encoder, SkipValidation = false };

    public static readonly JsonSerializerOptions SerializerOptions = new(JsonSerializerDefaults.Web)
    {
        Encoder = Encoder,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>UTC time as the protocol writes it: ISO-8601 with milliseconds and Z.</summary>
    public static string Time(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>Serializes a node tree to wire bytes.</summary>
    public static byte[] ToBytes(JsonNode node)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteNode(writer, node);
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Serializes with a writer callback (the allocation-light path for hot messages).</summary>
    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer);
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static string ToText(JsonNode node) => System.Text.Encoding.UTF8.GetString(ToBytes(node));

    /// <summary>Copies a received element into a writer, replacing unwritable control characters.</summary>
    public static void WriteElement(Utf8JsonWriter writer, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    writer.WritePropertyName(Clean(property.Name));
                    WriteElement(writer, property.Value);
                }
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray()) WriteElement(writer, item);
                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(Clean(element.GetString()!));
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }

    /// <summary>Writes a node tree, cleaning every string on the way.</summary>
    public static void WriteNode(Utf8JsonWriter writer, JsonNode? node)
    {
        switch (node)
        {
            case null:
                writer.WriteNullValue();
                break;
            case JsonObject obj:
                writer.WriteStartObject();
                foreach (var (name, value) in obj)
                {
                    writer.WritePropertyName(Clean(name));
                    WriteNode(writer, value);
                }
                writer.WriteEndObject();
                break;
            case JsonArray array:
                writer.WriteStartArray();
                foreach (var item in array) WriteNode(writer, item);
                writer.WriteEndArray();
                break;
            case JsonValue value when value.TryGetValue(out string? s):
                writer.WriteStringValue(Clean(s));
                break;
            case JsonValue value when value.TryGetValue(out JsonElement e):
                WriteElement(writer, e);
                break;
            default:
                node.WriteTo(writer, SerializerOptions);
                break;
        }
    }

    /// <summary>A node copy of a received element (strings cleaned), for building relayed messages.</summary>
    public static JsonNode? ToNode(JsonElement element) =>
        JsonNode.Parse(Write(w => WriteElement(w, element)));

    /// <summary>Replaces control characters that would need a \u escape with U+FFFD.</summary>
    public static string Clean(string s)
    {
        var i = s.AsSpan().IndexOfAnyInRange('\0', '\u001f');
        if (i < 0) return s;
        return string.Create(s.Length, s, static (span, src) =>
        {
            for (var k = 0; k < src.Length; k++)
            {
                var c = src[k];
                span[k] = c < ' ' && c is not ('\n' or '\r' or '\t' or '\b' or '\f') ? '\uFFFD' : c;
            }
        });
    }

    /// <summary>Escapes only what JSON requires: quote, backslash and control characters.</summary>
    private sealed class RawUtf8Encoder : JavaScriptEncoder
    {
        public override int MaxOutputCharactersPerInputCharacter => 6;

        public override bool WillEncode(int unicodeScalar) => unicodeScalar < 0x20 || unicodeScalar == '"' || unicodeScalar == '\\';

        public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
        {
            for (var i = 0; i < textLength; i++)
            {
                var c = text[i];
                if (c < 0x20 || c == '"' || c == '\\') return i;
            }
            return -1;
        }

        public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
        {
            for (var i = 0; i < utf8Text.Length; i++)
            {
                var b = utf8Text[i];
                if (b < 0x20 || b == (byte)'"' || b == (byte)'\\') return i;
            }
            return -1;
        }

        public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
        {
            // Only reached for characters WillEncode accepted: quote, backslash, controls.
            string escaped = unicodeScalar switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\b' => "\\b",
                '\f' => "\\f",
                _ => "\uFFFD",
            };
            if (bufferLength < escaped.Length)
            {
                numberOfCharactersWritten = 0;
                return false;
            }
            for (var i = 0; i < escaped.Length; i++) buffer[i] = escaped[i];
            numberOfCharactersWritten = escaped.Length;
            return true;
        }
    }
}
