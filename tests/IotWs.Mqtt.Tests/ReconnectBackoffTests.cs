namespace IotWs.Mqtt.Tests;

public class ReconnectBackoffTests
{
    private static readonly TimeSpan Min = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    [InlineData(3, 8)]
    [InlineData(5, 32)]
    [InlineData(6, 60)]
    [InlineData(1000, 60)]
    public void Backoff_cap_doubles_from_the_minimum_up_to_the_maximum(int attempt, int capSeconds)
    {
        var nearlyOne = Math.BitDecrement(1.0);

        var delay = ReconnectBackoff.Delay(attempt, Min, Max, nearlyOne);

        Assert.InRange(delay, TimeSpan.FromSeconds(capSeconds) - TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(capSeconds));
    }

    [Fact]
    public void Backoff_is_full_jitter_between_zero_and_the_cap()
    {
        Assert.Equal(TimeSpan.Zero, ReconnectBackoff.Delay(4, Min, Max, 0));
        Assert.Equal(TimeSpan.FromSeconds(4), ReconnectBackoff.Delay(3, Min, Max, 0.5));
    }
}
