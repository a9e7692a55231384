using IotWs.Firmware.Core;
using IotWs.Firmware.Host;

namespace IotWs.Firmware.Tests;

public class BackoffTests
{
    [Fact]
    public void The_ceiling_doubles_from_one_second_and_stops_at_sixty()
    {
        var ceilings = Enumerable.Range(0, 10).Select(a => Backoff.CeilingMs(a, 1000, 60000));

        Assert.Equal([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000], ceilings);
        Assert.Equal(60000, Backoff.CeilingMs(1000, 1000, 60000));
    }

    [Fact]
    public void Delays_are_never_negative_and_never_above_the_ceiling_or_sixty_seconds()
    {
        var random = new SystemRandomSource(42);
        for (var run = 0; run < 200; run++)
        {
            var backoff = new Backoff(1000, 60000, random);
            for (var attempt = 0; attempt < 40; attempt++)
            {
                var ceiling = Backoff.CeilingMs(attempt, 1000, 60000);
                var delay = backoff.NextDelayMs();
                Assert.InRange(delay, 0, ceiling);
                Assert.InRange(delay, 0, 60000);
            }
        }
    }

    [Fact]
    public void Full_jitter_spreads_delays_over_the_whole_range()
    {
        var random = new SystemRandomSource(7);
        var buckets = new int[10];
        var samples = new List<int>();
        for (var i = 0; i < 20_000; i++)
        {
            var backoff = new Backoff(1000, 60000, random);
            backoff.Escalate();
            var delay = backoff.NextDelayMs();
            samples.Add(delay);
            buckets[Math.Min(9, delay / 6000)]++;
        }

        // Uniform over 0..60 s: every tenth of the range gets about 2,000 samples, the mean is about 30 s.
        Assert.All(buckets, count => Assert.InRange(count, 1700, 2300));
        Assert.InRange(samples.Average(), 29_000, 31_000);
        Assert.True(samples.Min() < 600);
        Assert.True(samples.Max() > 59_400);
    }

    [Fact]
    public void A_floor_raises_the_lower_bound_but_never_the_cap()
    {
        var backoff = new Backoff(1000, 60000, new SystemRandomSource(1));
        for (var i = 0; i < 1000; i++) Assert.InRange(backoff.NextDelayMs(5000), 5000, 60000);

        var capped = new Backoff(1000, 60000, new SystemRandomSource(2));
        Assert.InRange(capped.NextDelayMs(120_000), 60000, 60000);
    }

    [Fact]
    public void Reset_goes_back_to_the_first_step()
    {
        var backoff = new Backoff(1000, 60000, new SystemRandomSource(3));
        backoff.Escalate();
        Assert.Equal(60000, Backoff.CeilingMs(backoff.Attempt, 1000, 60000));

        backoff.Reset();
        Assert.InRange(backoff.NextDelayMs(), 0, 1000);
    }
}
