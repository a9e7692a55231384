namespace IotWs.Protocol.Tests;

public class ReadingRulesTests
{
    [Theory]
    [InlineData(-40.0, 50.0)]
    [InlineData(80.0, 50.0)]
    [InlineData(21.5, 0.0)]
    [InlineData(21.5, 100.0)]
    [InlineData(0.0, 45.0)]
    public void Readings_on_and_inside_the_dht22_limits_are_valid(double t, double h)
    {
        Assert.Null(ReadingRules.Check(t, h));
    }

    [Theory]
    [InlineData(80.1, 50.0, "temperature 80.1 is outside -40..80")]
    [InlineData(-40.1, 50.0, "temperature -40.1 is outside -40..80")]
    [InlineData(21.5, 100.5, "humidity 100.5 is outside 0..100")]
    [InlineData(21.5, -0.5, "humidity -0.5 is outside 0..100")]
    [InlineData(double.NaN, 50.0, "temperature is not a number")]
    [InlineData(double.PositiveInfinity, 50.0, "temperature is not a number")]
    [InlineData(21.5, double.NaN, "humidity is not a number")]
    [InlineData(21.5, double.NegativeInfinity, "humidity is not a number")]
    public void Readings_outside_the_limits_say_why(double t, double h, string expected)
    {
        Assert.Equal(expected, ReadingRules.Check(t, h));
    }

    [Fact]
    public void Temperature_is_checked_before_humidity()
    {
        Assert.Equal("temperature 90 is outside -40..80", ReadingRules.Check(90, 140));
    }

    [Theory]
    [InlineData(1577836800000L, true)]
    [InlineData(1795000000000L, true)]
    [InlineData(1577836799999L, false)]
    [InlineData(123456L, false)]
    [InlineData(0L, false)]
    [InlineData(-1L, false)]
    public void Only_times_from_2020_on_are_plausible_wall_clock_times(long epochMs, bool expected)
    {
        Assert.Equal(expected, ReadingRules.IsPlausibleEpochMs(epochMs));
    }
}
