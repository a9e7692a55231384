using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Wire;
using IotWs.Protocol;

namespace IotWs.Gateway.Requests;

/// <summary>
/// A paged response's data: a JSON array built a row at a time up to a byte budget. The first row is always kept
/// (RequestRouter.MinimumPageBudget leaves room for the largest one); a later row is kept only while the array still fits.
/// </summary>
internal sealed class JsonArrayPage(int budget)
{
    private readonly List<byte[]> _rows = [];
    private int _size = 2; // [ ]

    public int Count => _rows.Count;

    /// <summary>Adds one row's JSON; false (and not added) when the array would no longer fit the budget.</summary>
    public bool TryAdd(byte[] json)
    {
        var grown = _size + json.Length + (_rows.Count > 0 ? 1 : 0);
        if (grown > budget && _rows.Count > 0) return false;
        _rows.Add(json);
        _size = grown;
        return true;
    }

    public bool TryAdd<T>(T row, Action<Utf8JsonWriter, T> write) => TryAdd(WireJson.Write(w => write(w, row)));

    /// <summary>The array's bytes: the rows in the order they were added, or in the reverse order.</summary>
    public byte[] ToArray(bool reversed = false)
    {
        var buffer = new byte[_size];
        buffer[0] = (byte)'[';
        var offset = 1;
        for (var n = 0; n < _rows.Count; n++)
        {
            var row = _rows[reversed ? _rows.Count - 1 - n : n];
            row.CopyTo(buffer, offset);
            offset += row.Length;
            if (n < _rows.Count - 1) buffer[offset++] = (byte)',';
        }
        buffer[offset] = (byte)']';
        return buffer;
    }
}

/// <summary>
/// The cursor text of every paged endpoint: a version tag and the endpoint's fields joined by '|', as base64url. The
/// client treats it as opaque and passes it back as data.cursor; the version tag keeps one endpoint's cursor from
/// being read as another's.
/// </summary>
internal static class PageCursor
{
    /// <summary>The answer to a cursor this gateway did not give (or gave for another endpoint).</summary>
    public static MessageException NotOurs() =>
        new(ErrorCodes.ValidationFailed, "data.cursor is not one this gateway gave: ask again without it.");

    public static string Encode(string version, params ReadOnlySpan<string> fields)
    {
        var text = new StringBuilder(version);
        foreach (var field in fields) text.Append('|').Append(field);
        return Base64Url.EncodeToString(Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>The fields after the version tag, when <paramref name="text"/> is a cursor of this version with that many.</summary>
    public static string[]? TryDecode(string text, string version, int fieldCount)
    {
        if (text.Length > RequestRouter.CursorRoom) return null;
        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(text);
        }
        catch (FormatException)
        {
            return null;
        }
        var parts = Encoding.UTF8.GetString(bytes).Split('|');
        return parts.Length == fieldCount + 1 && parts[0] == version ? parts[1..] : null;
    }

    /// <summary>data.cursor as text; null when absent; validation_failed when it is not a string.</summary>
    public static string? Read(JsonElement data)
    {
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty(Fields.Cursor, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind == JsonValueKind.String ? e.GetString()
            : throw new MessageException(ErrorCodes.ValidationFailed, $"data.{Fields.Cursor} must be a string.");
    }
}
