using System.Diagnostics;
using IotWs.Gateway.Tests.Infrastructure;
using static IotWs.Gateway.Tests.Cluster.BusFanoutTests;

namespace IotWs.Gateway.Tests.Readings;

/// <summary>
/// The group-commit rule (docs/performance.md, "Commit rule"): a client pacing itself on acks is committed as soon as
/// the writer is free; a device on its own clock that happens to send just after an ack waits for the interval, so a
/// trickle keeps the SD card's few commits per second. A long CommitInterval (3 s) makes each outcome unmistakable.
/// </summary>
public sealed class CommitRuleTests
{
    [Fact]
    public async Task One_reading_just_after_an_ack_waits_for_the_interval_but_a_client_sending_on_every_ack_is_not_held()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Storage:CommitInterval=00:00:03");
        await using var device = await gateway.ConnectDeviceAsync("esp-1", gateway.AddDevice("esp-1"));

        // After a quiet spell: committed at once.
        await SendReadingAsync(device, 1, 20.0);
        // Sent right after that ack, once: by itself this is what a device on a 200 ms clock does by chance. It is
        // gathered with what else comes in the interval (before the fix it was committed on its own at once).
        var clock = Stopwatch.StartNew();
        await SendReadingAsync(device, 2, 20.1);
        var held = clock.Elapsed;
        // Every next reading follows its ack again: now the client is plainly pacing on acks, and is not held.
        clock.Restart();
        var each = new List<double>();
        for (var seq = 3; seq <= 12; seq++)
        {
            var start = clock.Elapsed;
            await SendReadingAsync(device, seq, 20.0 + seq / 10.0);
            each.Add((clock.Elapsed - start).TotalMilliseconds);
        }
        var paced = clock.Elapsed;

        Assert.True(held >= TimeSpan.FromSeconds(1.5), $"the second reading was acked after {held.TotalMilliseconds:F0} ms, not held for the 3 s interval");
        // Ten readings one at a time: 30 s if each waited for the interval.
        Assert.True(paced < TimeSpan.FromSeconds(3), $"ten readings sent on each ack took {paced.TotalMilliseconds:F0} ms: {string.Join(", ", each.Select(ms => ms.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}");
    }
}
