using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Wire;

namespace IotWs.Gateway.Readings;

/// <summary>History rows as JSON (the API's shapes) and as CSV with a header line.</summary>
public static class HistoryFormat
{
    public const string ReadingsCsvHeader = "insertId,deviceId,seq,bootId,timestamp,temperature,humidity,sensor_id,location";
    public const string RollupsCsvHeader = "bucket,count,temperatureMin,temperatureMax,temperatureAvg,humidityMin,humidityMax,humidityAvg";

    /// <summary>[{"insertId","deviceId","seq","bootId","timestamp","temperature","humidity","sensor_id","location"}] (+ "deviceTimestamp" when the device's own time was implausible).</summary>
    public static byte[] ReadingsJson(IReadOnlyList<ReadingRow> rows) => Json(w =>
    {
        w.WriteStartArray();
        foreach (var r in rows) WriteReading(w, r);
        w.WriteEndArray();
    });

    /// <summary>One reading as an element of <see cref="ReadingsJson"/>.</summary>
    public static void WriteReading(Utf8JsonWriter w, ReadingRow r)
    {
        w.WriteStartObject();
        w.WriteNumber("insertId", r.InsertId);
        w.WriteString("deviceId", r.DeviceId);
        WriteNullable(w, "seq", r.Seq);
        WriteNullable(w, "bootId", r.BootId);
        w.WriteString("timestamp", WireJson.Time(r.Timestamp));
        w.WriteNumber("temperature", r.Temperature);
        w.WriteNumber("humidity", r.Humidity);
        WriteText(w, "sensor_id", r.SensorId);
        WriteText(w, "location", r.Location);
        switch (r.DeviceTimestamp)
        {
            case long l: w.WriteNumber("deviceTimestamp", l); break;
            case double d: w.WriteNumber("deviceTimestamp", d); break;
            case string s: w.WriteString("deviceTimestamp", WireJson.Clean(s)); break;
        }
        w.WriteEndObject();
    }

    /// <summary>[{"bucket","count","temperatureMin","temperatureMax","temperatureAvg","humidityMin","humidityMax","humidityAvg"}]</summary>
    public static byte[] RollupsJson(IReadOnlyList<RollupRow> rows) => Json(w =>
    {
        w.WriteStartArray();
        foreach (var r in rows) WriteRollup(w, r);
        w.WriteEndArray();
    });

    /// <summary>One bucket as an element of <see cref="RollupsJson"/>.</summary>
    public static void WriteRollup(Utf8JsonWriter w, RollupRow r)
    {
        w.WriteStartObject();
        w.WriteString("bucket", WireJson.Time(r.Bucket));
        w.WriteNumber("count", r.Count);
        w.WriteNumber("temperatureMin", r.TemperatureMin);
        w.WriteNumber("temperatureMax", r.TemperatureMax);
        w.WriteNumber("temperatureAvg", r.TemperatureAvg);
        w.WriteNumber("humidityMin", r.HumidityMin);
        w.WriteNumber("humidityMax", r.HumidityMax);
        w.WriteNumber("humidityAvg", r.HumidityAvg);
        w.WriteEndObject();
    }

    public static string ReadingsCsv(IReadOnlyList<ReadingRow> rows)
    {
        var sb = new StringBuilder(ReadingsCsvHeader).Append('\n');
        foreach (var r in rows)
        {
            sb.Append(r.InsertId).Append(',').Append(Csv(r.DeviceId)).Append(',')
              .Append(r.Seq?.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(r.BootId?.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(WireJson.Time(r.Timestamp)).Append(',')
              .Append(Number(r.Temperature)).Append(',').Append(Number(r.Humidity)).Append(',')
              .Append(Csv(r.SensorId)).Append(',').Append(Csv(r.Location)).Append('\n');
        }
        return sb.ToString();
    }

    public static string RollupsCsv(IReadOnlyList<RollupRow> rows)
    {
        var sb = new StringBuilder(RollupsCsvHeader).Append('\n');
        foreach (var r in rows)
        {
            sb.Append(WireJson.Time(r.Bucket)).Append(',').Append(r.Count).Append(',')
              .Append(Number(r.TemperatureMin)).Append(',').Append(Number(r.TemperatureMax)).Append(',').Append(Number(r.TemperatureAvg)).Append(',')
              .Append(Number(r.HumidityMin)).Append(',').Append(Number(r.HumidityMax)).Append(',').Append(Number(r.HumidityAvg)).Append('\n');
        }
        return sb.ToString();
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, WireJson.WriterOptions)) write(w);
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    private static void WriteText(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name);
        else w.WriteString(name, WireJson.Clean(value));
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// A text cell (device id, sensor_id, location): RFC 4180 quoting, and a leading ' before = + - @, tab or CR so a
    /// spreadsheet shows device-sent text instead of running it as a formula. Numbers the gateway writes itself
    /// (temperature -5.2, seq, times) never pass through here and stay numbers.
    /// </summary>
    internal static string Csv(string? value)
    {
        if (value is null) return "";
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r') value = "'" + value;
        return value.AsSpan().IndexOfAny(",\"\n\r") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }
}
