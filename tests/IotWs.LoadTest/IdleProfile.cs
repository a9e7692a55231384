using IotWs.Gateway;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace IotWs.LoadTest;

/// <summary>
/// idle-profile: the gateway in-process, to split its idle-connection cost into managed heap (live objects after a
/// full GC) and the rest. The generator's own client objects are measured against the baseline child and subtracted.
/// </summary>
internal static class IdleProfile
{
    public static async Task<int> RunAsync(BenchOptions o)
    {
        var n = o.Int("connections", 2000);
        using var provisioning = Provisioning.Create(n);
        // Client-side cost first: the same clients against the baseline (another process).
        long clientBytes;
        await using (var baseline = await BenchTarget.StartBaselineAsync(o))
        {
            var before = GC.GetTotalMemory(true);
            var clients = await LoadClient.ConnectManyAsync(baseline.WsUri, provisioning.Devices, true, 1, 100, CancellationToken.None);
            clientBytes = GC.GetTotalMemory(true) - before;
            foreach (var c in clients) await c.DisposeAsync();
        }
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", "--data-dir", provisioning.DataDir, "--Logging:LogLevel:Default=Warning", "--Gateway:MaxConnections=20000"]);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var ws = new Uri(address.Replace("http://", "ws://", StringComparison.Ordinal) + "/ws");
        var warm = await LoadClient.ConnectManyAsync(ws, provisioning.Devices.Take(50).ToList(), true, 1, 50, CancellationToken.None);
        foreach (var c in warm) await c.CloseAsync();
        foreach (var c in warm) await c.DisposeAsync();
        await Task.Delay(1000);
        var m0 = GC.GetTotalMemory(true);
        var open = await LoadClient.ConnectManyAsync(ws, provisioning.Devices, true, 1, 100, CancellationToken.None);
        await Task.Delay(1000);
        var m1 = GC.GetTotalMemory(true);
        Console.WriteLine($"{n} idle connections: managed heap +{(m1 - m0) / 1024.0 / n:0.0} KB per connection in total; the generator's clients alone {clientBytes / 1024.0 / n:0.0} KB; "
            + $"so the gateway holds about {(m1 - m0 - clientBytes) / 1024.0 / n:0.0} KB of live managed objects per idle connection");
        foreach (var c in open) await c.DisposeAsync();
        await app.StopAsync();
        await app.DisposeAsync();
        return 0;
    }
}
