using System.Text.Json;
using IotWs.Gateway.LocalSensors;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace IotWs.Gateway.Tests.LocalSensors;

/// <summary>A real gateway on Kestrel with local sensors configured and the whole gateway on a FakeTimeProvider.</summary>
internal sealed class LocalSensorRig : IAsyncDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private LocalSensorRig(FakeTimeProvider clock, TestGateway gateway)
    {
        Clock = clock;
        Gateway = gateway;
    }

    public FakeTimeProvider Clock { get; }
    public TestGateway Gateway { get; }
    public string DataDir => Gateway.DataDir;

    /// <summary>Settings are Gateway options as "Key=Value" (e.g. "LocalSensors:0:DeviceId=pi-hall").</summary>
    public static async Task<LocalSensorRig> StartAsync(string? dataDir, FakeTimeProvider? clock, Action<IServiceCollection>? services, params string[] settings)
    {
        clock ??= new FakeTimeProvider(Start);
        var gateway = await TestGateway.StartAsync(dataDir, b =>
        {
            b.Services.AddSingleton<TimeProvider>(clock);
            services?.Invoke(b.Services);
        }, settings);
        return new LocalSensorRig(clock, gateway);
    }

    public static string[] Sensor(int index, string deviceId, params string[] more) =>
        [$"LocalSensors:{index}:DeviceId={deviceId}", .. more.Select(m => $"LocalSensors:{index}:{m}")];

    public LocalBoard Board(string deviceId) => Gateway.Service<LocalSensorService>().Boards.Single(b => b.Options.DeviceId == deviceId);

    /// <summary>Moves the fake clock in steps, letting every local board tick twice after each (they tick every 50 ms of real time).</summary>
    public async Task AdvanceAsync(TimeSpan total, TimeSpan? step = null)
    {
        var by = step ?? TimeSpan.FromMilliseconds(500);
        for (var done = TimeSpan.Zero; done < total; done += by)
        {
            Clock.Advance(by < total - done ? by : total - done);
            await TickedAsync();
        }
    }

    /// <summary>Every board has run at least two loop steps since the call.</summary>
    public async Task TickedAsync()
    {
        var boards = Gateway.Service<LocalSensorService>().Boards;
        var before = boards.Select(b => b.Ticks).ToArray();
        await Until(() => boards.Select((b, i) => b.Ticks >= before[i] + 2).All(x => x), "local boards to tick");
    }

    /// <summary>Polls a condition (real time, 10 s at most).</summary>
    public static async Task Until(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("Waited in vain for " + what);
            await Task.Delay(10);
        }
    }

    /// <summary>Advances in steps until the condition holds (at most <paramref name="limit"/> of fake time).</summary>
    public async Task AdvanceUntilAsync(Func<bool> condition, TimeSpan limit, string what)
    {
        for (var done = TimeSpan.Zero; !condition(); done += TimeSpan.FromMilliseconds(500))
        {
            if (done > limit) throw new TimeoutException($"No {what} within {limit} of fake time");
            await AdvanceAsync(TimeSpan.FromMilliseconds(500));
        }
    }

    public async Task<JsonElement> GetJsonAsync(string path, string role = "viewer")
    {
        using var http = Gateway.Http(Gateway.AddKey(role));
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();
}
