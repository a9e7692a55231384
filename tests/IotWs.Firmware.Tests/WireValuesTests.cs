using System.Collections;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Tests;

public class WireValuesTests
{
    [Theory]
    [InlineData(23, 23.0)]
    [InlineData(23L, 23.0)]
    [InlineData(23.5, 23.5)]
    [InlineData(2.5f, 2.5)]
    public void Any_json_number_reads_as_a_double(object value, double expected)
    {
        Assert.True(WireValues.TryGetDouble(value, out var d));
        Assert.Equal(expected, d);
    }

    [Theory]
    [InlineData(5000, true, 5000L)]
    [InlineData(5000L, true, 5000L)]
    [InlineData(5000.0, true, 5000L)]
    [InlineData(5000.5, false, 0L)]
    [InlineData("5000", false, 0L)]
    [InlineData(double.NaN, false, 0L)]
    [InlineData(1e30, false, 0L)]
    public void Whole_numbers_read_as_long_whatever_the_writer_chose(object value, bool ok, long expected)
    {
        Assert.Equal(ok, WireValues.TryGetLong(value, out var l));
        Assert.Equal(expected, l);
    }

    [Fact]
    public void Missing_or_wrongly_typed_fields_read_as_absent()
    {
        var m = new Hashtable { ["s"] = 5, ["b"] = "true" };

        Assert.Null(WireValues.GetString(m, "s"));
        Assert.True(WireValues.GetBool(m, "b", true));
        Assert.False(WireValues.TryGetDouble(null!, out _));
        Assert.Null(WireValues.GetObject(m, "missing"));
        Assert.False(WireValues.TryGetInt(3_000_000_000L, out _));
    }

    [Theory]
    [InlineData("42", true, 42L)]
    [InlineData("-7", true, -7L)]
    [InlineData("", false, 0L)]
    [InlineData("-", false, 0L)]
    [InlineData("4x", false, 0L)]
    public void Stored_numbers_parse_without_throwing(string text, bool ok, long expected)
    {
        Assert.Equal(ok, WireValues.TryParseLong(text, out var l));
        Assert.Equal(expected, l);
    }

    [Fact]
    public void Iso_timestamps_have_milliseconds_and_a_z()
    {
        Assert.Equal("2026-01-02T03:04:05.006Z", IsoTime.Format(new DateTime(2026, 1, 2, 3, 4, 5, 6, DateTimeKind.Utc)));
        Assert.False(IsoTime.IsSynced(new DateTime(2000, 1, 1)));
        Assert.True(IsoTime.IsSynced(new DateTime(2020, 1, 1)));
    }
}
