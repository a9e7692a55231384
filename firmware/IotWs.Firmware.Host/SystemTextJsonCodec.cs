using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Host;

/// <summary>
/// JSON to and from Hashtable/ArrayList with nanoFramework.Json's typing (23 is an int, 23.5 a
/// double, large integers a long), so the core sees the same values on .NET as on the ESP32.
/// Writes raw UTF-8: only '"', '\' and control characters are escaped, never '/', '&lt;' or non-ASCII.
/// </summary>
public sealed class SystemTextJsonCodec : IJsonCodec
{
    /// <inheritdoc/>
    public Hashtable? Parse(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind == JsonValueKind.Object ? (Hashtable)ToValue(document.RootElement)! : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <inheritdoc/>
    public string Serialize(Hashtable message)
    {
        var sb = new StringBuilder(128);
        Write(sb, message);
        return sb.ToString();
    }

    private static object? ToValue(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var table = new Hashtable();
                foreach (var p in e.EnumerateObject()) table[p.Name] = ToValue(p.Value);
                return table;
            case JsonValueKind.Array:
                var list = new ArrayList();
                foreach (var item in e.EnumerateArray()) list.Add(ToValue(item));
                return list;
            case JsonValueKind.String:
                return e.GetString();
            case JsonValueKind.Number:
                var raw = e.GetRawText();
                if (raw.IndexOfAny(['.', 'e', 'E']) >= 0) return e.GetDouble();
                if (e.TryGetInt32(out var i)) return i;
                if (e.TryGetInt64(out var l)) return l;
                return e.GetDouble();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                return null;
        }
    }

    private static void Write(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case string s:
                WriteString(sb, s);
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case double d:
                WriteDouble(sb, d);
                break;
            case float f:
                WriteDouble(sb, f);
                break;
            case int or long or short or byte or uint or ulong or ushort or sbyte:
                sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
            case DateTime dt:
                WriteString(sb, IsoTime.Format(dt.ToUniversalTime()));
                break;
            case IDictionary dictionary:
                sb.Append('{');
                var first = true;
                foreach (DictionaryEntry entry in dictionary)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? "");
                    sb.Append(':');
                    Write(sb, entry.Value);
                }
                sb.Append('}');
                break;
            case IEnumerable items:
                sb.Append('[');
                var firstItem = true;
                foreach (var item in items)
                {
                    if (!firstItem) sb.Append(',');
                    firstItem = false;
                    Write(sb, item);
                }
                sb.Append(']');
                break;
            default:
                throw new NotSupportedException($"Cannot write {value.GetType().Name} as JSON");
        }
    }

    // Like nanoFramework.Json: NaN and infinities are not JSON numbers, so they become null.
    private static void WriteDouble(StringBuilder sb, double d)
    {
        if (double.IsNaN(d) || double.IsInfinity(d))
        {
            sb.Append("null");
            return;
        }
        sb.Append(d.ToString("R", CultureInfo.InvariantCulture));
    }

    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < ' ') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
