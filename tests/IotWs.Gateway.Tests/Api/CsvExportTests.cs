using System.Globalization;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Api;

/// <summary>Issue 12 item 4: device-sent text in a CSV export is never run as a spreadsheet formula.</summary>
public sealed class CsvExportTests
{
    private static ReadingRow Row(string? sensorId, string? location, double temperature = -5.2) =>
        new(7, "esp-csv", 1, 2, DateTimeOffset.Parse("2026-12-01T10:00:00Z", CultureInfo.InvariantCulture), null, temperature, 40.5, sensorId, location);

    [Theory]
    [InlineData("=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"")]
    [InlineData("+1+1", "'+1+1")]
    [InlineData("-2+3", "'-2+3")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("\tcmd", "'\tcmd")]
    [InlineData("\rcmd", "\"'\rcmd\"")]
    [InlineData("dht-1", "dht-1")]
    [InlineData("a=b", "a=b")]
    public void A_text_cell_that_a_spreadsheet_would_run_gets_a_leading_quote(string sensorId, string cell)
    {
        var line = HistoryFormat.ReadingsCsv([Row(sensorId, "bench")]).Split('\n')[1];
        Assert.Equal($"7,esp-csv,1,2,2026-12-01T10:00:00.000Z,-5.2,40.5,{cell},bench", line);
    }

    [Fact]
    public void Negative_numbers_the_gateway_writes_stay_numbers()
    {
        var line = HistoryFormat.ReadingsCsv([Row("dht", "-bench", -12.75)]).Split('\n')[1];
        Assert.StartsWith("7,esp-csv,1,2,2026-12-01T10:00:00.000Z,-12.75,40.5,dht,'-bench", line, StringComparison.Ordinal);
        var rollup = HistoryFormat.RollupsCsv([new RollupRow(DateTimeOffset.Parse("2026-12-01T10:00:00Z", CultureInfo.InvariantCulture), 2, -3.5, -1, -2.25, 40, 41, 40.5)]).Split('\n')[1];
        Assert.Equal("2026-12-01T10:00:00.000Z,2,-3.5,-1,-2.25,40,41,40.5", rollup);
    }

    [Fact]
    public async Task A_formula_sent_by_a_device_reaches_the_csv_download_neutralised()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Storage:CommitInterval=00:00:00.020");
        var token = gateway.AddDevice("esp-formula");
        await using var device = await gateway.ConnectDeviceAsync("esp-formula", token, 3);
        var at = DateTimeOffset.UtcNow.AddMinutes(-1);
        await device.SendAsync(new
        {
            type = "data", dataType = "sensor", seq = 1, bootId = 3, timestamp = at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            data = new { temperature = -5.2, humidity = 41.0, sensor_id = "=HYPERLINK(\"http://evil.example/\",\"click\")", location = "@kitchen" },
        });
        var ack = await device.ReceiveAsync("data_response");
        Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());

        var http = gateway.Http(gateway.AddKey("viewer"));
        var text = await http.GetStringAsync("/api/devices/esp-formula/readings?format=csv");
        var cells = text.Split('\n')[1];

        Assert.Contains(",-5.2,41,\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"click\"\")\",'@kitchen", cells, StringComparison.Ordinal);
    }
}
