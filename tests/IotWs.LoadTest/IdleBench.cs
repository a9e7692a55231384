using System.Diagnostics;

namespace IotWs.LoadTest;

/// <summary>
/// idle: opens 1,000 then 5,000 authenticated device connections that send nothing more; reports the set-up rate and
/// the gateway's resident memory per idle connection (RSS growth over the warmed-up gateway / connections).
/// </summary>
internal static class IdleBench
{
    public static async Task<int> RunAsync(BenchOptions o)
    {
        var counts = o.Ints("connections", [1000, 5000]).Order().ToArray();
        var parallel = o.Int("parallel", 100);
        var settle = o.Int("settle", 5);
        Console.WriteLine($"idle: {string.Join(", ", counts)} connections, {parallel} set up at a time, gateway gc {o.String("gc", "project")}");
        Console.WriteLine(BenchTarget.Machine());
        using var provisioning = Provisioning.Create(counts[^1]);
        await using var server = await BenchTarget.StartGatewayAsync(provisioning, o);

        // Warm up: JIT, pools and the first allocations are not per-connection costs.
        var warm = await LoadClient.ConnectManyAsync(server.WsUri, provisioning.Devices.Take(50).ToList(), true, 1, parallel, CancellationToken.None);
        await Task.WhenAll(warm.Select(c => c.CloseAsync()));
        foreach (var c in warm) await c.DisposeAsync();
        await Task.Delay(TimeSpan.FromSeconds(settle));
        var rss0 = server.Rss;
        Console.WriteLine($"gateway RSS with no connections (after warm-up): {rss0 / 1048576.0:0.0} MB");

        var open = new List<LoadClient>();
        try
        {
            foreach (var target in counts)
            {
                var batch = provisioning.Devices.Skip(open.Count).Take(target - open.Count).ToList();
                var sw = Stopwatch.StartNew();
                open.AddRange(await LoadClient.ConnectManyAsync(server.WsUri, batch, true, 1, parallel, CancellationToken.None));
                var elapsed = sw.Elapsed;
                await Task.Delay(TimeSpan.FromSeconds(settle));
                var rss = server.Rss;
                Console.WriteLine($"{target,6} idle connections: set up {batch.Count / elapsed.TotalSeconds,7:N0} connections/s (handshake+auth), gateway RSS {rss / 1048576.0,7:0.0} MB, "
                    + $"{(rss - rss0) / (double)target / 1024,6:0.0} KB per connection (target <= 24 KB)");
            }
        }
        finally
        {
            await Task.WhenAll(open.Select(c => c.CloseAsync()));
            foreach (var c in open) await c.DisposeAsync();
        }
        return 0;
    }
}
