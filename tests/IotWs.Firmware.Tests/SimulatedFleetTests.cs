using System.Net;
using System.Net.Http.Json;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;
using IotWs.Firmware.Tests.EndToEnd;

namespace IotWs.Firmware.Tests;

/// <summary>The firmware's device logic through the host adapters, over real sockets, against the real gateway.</summary>
[Collection(EndToEndCollection.Name)]
public class SimulatedFleetTests
{
    internal static void Fast(DeviceSettings s)
    {
        s.BackoffBaseMs = 200;
        s.BackoffCapMs = 1000;
        s.AckTimeoutMs = 3000;
    }

    internal static async Task WaitUntil(Func<bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting until " + what);
            await Task.Delay(50);
        }
    }

    /// <summary>Every seq of boot 1 from 1 to the last one taken, each exactly once.</summary>
    private static void AssertStoredExactlyOnce(RealGateway gateway, SimulatedBoard board)
    {
        var keys = gateway.StoredKeys(board.DeviceId);
        Assert.All(keys, k => Assert.Equal(1, k.BootId));
        Assert.Equal(Enumerable.Range(1, (int)board.LastSeq).Select(i => (long)i), keys.Select(k => k.Seq));
        Assert.Equal(board.ReadingsTaken, keys.Count);
    }

    /// <summary>Stops new readings (a failing sensor consumes no seq) and waits for the backlog to be acked.</summary>
    private static async Task QuiesceAsync(IReadOnlyList<SimulatedBoard> boards)
    {
        foreach (var b in boards) b.SensorFailing = true;
        await WaitUntil(() => boards.All(b => b.IsRunning && b.Buffered == 0 && b.ReadingsAcked == b.ReadingsTaken), "every board's backlog was acked");
    }

    [Fact]
    public async Task Three_boards_ride_out_a_15_second_gateway_outage_and_every_reading_is_stored_exactly_once()
    {
        await using var gateway = await RealGateway.StartAsync();
        var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrl = gateway.WsUrl,
            Devices = gateway.AddDevices("sim-1", "sim-2", "sim-3"),
            SensorFailureRate = 0,
        }, null, Fast);
        var boards = fleet.Boards;
        try
        {
            await WaitUntil(() => boards.All(b => b.IsRunning && b.ReadingsAcked >= 2), "every board had two readings acked");
            await gateway.StopAsync();
            var takenAtStop = boards.Select(b => b.ReadingsTaken).ToArray();
            await Task.Delay(TimeSpan.FromSeconds(15));
            // They kept reading while the gateway was away.
            Assert.All(boards.Select((b, i) => (b, i)), x => Assert.True(x.b.ReadingsTaken >= takenAtStop[x.i] + 5, $"{x.b.DeviceId} took {x.b.ReadingsTaken - takenAtStop[x.i]} readings offline"));
            Assert.All(boards, b => Assert.True(b.Buffered >= 5));

            await gateway.StartAgainAsync();
            await QuiesceAsync(boards);
        }
        finally
        {
            await fleet.DisposeAsync();
        }
        foreach (var board in boards) AssertStoredExactlyOnce(gateway, board);
    }

    [Fact]
    public async Task A_dropped_link_and_a_lost_route_lose_nothing_and_duplicate_nothing()
    {
        await using var gateway = await RealGateway.StartAsync();
        var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrl = gateway.WsUrl,
            Devices = gateway.AddDevices("sim-4", "sim-5"),
            SensorFailureRate = 0,
        }, null, Fast);
        var boards = fleet.Boards;
        try
        {
            await WaitUntil(() => boards.All(b => b.IsRunning && b.ReadingsAcked >= 2), "both boards had two readings acked");
            boards[0].DropLink();
            boards[1].GatewayUnreachable = true;
            var taken = boards[1].ReadingsTaken;
            await WaitUntil(() => boards[1].ReadingsTaken >= taken + 3, "three readings were taken offline");
            boards[1].GatewayUnreachable = false;
            await QuiesceAsync(boards);
        }
        finally
        {
            await fleet.DisposeAsync();
        }
        foreach (var board in boards) AssertStoredExactlyOnce(gateway, board);
    }

    [Fact]
    public void Bad_options_are_refused_at_start()
    {
        var url = new Uri("ws://127.0.0.1:1/ws");
        Assert.Throws<ArgumentException>(() => SimulatedFleet.Start(new SimulatorOptions { GatewayUrl = url, Devices = [], ReadingInterval = TimeSpan.FromSeconds(1) }));
        Assert.Throws<ArgumentException>(() => SimulatedFleet.Start(new SimulatorOptions { GatewayUrl = new Uri("http://x/ws"), Devices = [] }));
        Assert.Throws<ArgumentException>(() => SimulatedFleet.Start(new SimulatorOptions { GatewayUrl = url, Devices = [new("a", "t"), new("a", "u")] }));
        Assert.Throws<ArgumentException>(() => SimulatedFleet.Start(new SimulatorOptions { GatewayUrl = url, Devices = [], SensorFailureRate = 2 }));
    }
}

/// <summary>Simulated boards' own lifecycle against the real gateway: reboot RPC, refusal, persisted boot ids.</summary>
[Collection(EndToEndCollection.Name)]
public class SimulatedBoardLifecycleTests
{
    private static void Fast(DeviceSettings s) => SimulatedFleetTests.Fast(s);

    private static Task WaitUntil(Func<bool> condition, string what, int seconds = 30) => SimulatedFleetTests.WaitUntil(condition, what, seconds);

    [Fact]
    public async Task A_technicians_reboot_is_acknowledged_then_confirmed_when_the_board_returns_with_the_next_boot_id()
    {
        await using var gateway = await RealGateway.StartAsync();
        var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrl = gateway.WsUrl,
            Devices = gateway.AddDevices("sim-6"),
            SensorFailureRate = 0,
        }, null, Fast);
        var board = fleet.Boards[0];
        try
        {
            await WaitUntil(() => board.IsRunning, "the board was running");
            using var http = gateway.Http("technician");
            using var post = await http.PostAsJsonAsync("/api/devices/sim-6/rpc", new { endpoint = "reboot", data = new { }, timeoutMs = 10000 });
            Assert.Equal(HttpStatusCode.OK, post.StatusCode);
            var call = await RealGateway.ReadJsonAsync(post);
            Assert.Equal("rebooting", call.GetProperty("status").GetString());
            Assert.Equal("Rebooting in 3 seconds", call.GetProperty("result").GetProperty("message").GetString());

            var id = call.GetProperty("id").GetString();
            string? status = null;
            await WaitUntil(() =>
            {
                using var get = http.GetAsync($"/api/rpc/{id}").GetAwaiter().GetResult();
                status = RealGateway.ReadJsonAsync(get).GetAwaiter().GetResult().GetProperty("status").GetString();
                return status == "confirmed";
            }, "the reboot was confirmed");
            Assert.Equal(2, board.BootId);
            Assert.Equal(2, board.Boots);
        }
        finally
        {
            await fleet.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_board_with_a_wrong_token_is_refused_and_backs_off()
    {
        await using var gateway = await RealGateway.StartAsync();
        gateway.AddDevices("sim-7");
        var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrl = gateway.WsUrl,
            Devices = [new("sim-7", "iwd_wrong")],
        }, null, s => s.BackoffBaseMs = 200);
        var board = fleet.Boards[0];
        try
        {
            // The board gets auth_response success:false, closes by itself and backs off (the longer, "refused" kind).
            // Counted, not sampled: AwaitAuth lasts a few milliseconds, and a poll that missed it on a loaded
            // machine then waited out the whole refused backoff.
            await WaitUntil(() => board.AuthRefusals >= 1 && board.State == ConnectionState.Backoff, "the board was refused and backed off");
            Assert.False(board.IsRunning);
            Assert.Equal(0, board.ReadingsAcked);
        }
        finally
        {
            await fleet.DisposeAsync();
        }
    }

    [Fact]
    public async Task Boot_ids_persist_in_the_state_directory_across_simulator_runs()
    {
        await using var gateway = await RealGateway.StartAsync();
        var devices = gateway.AddDevices("sim-8");
        var dir = Directory.CreateTempSubdirectory("iotws-sim-").FullName;
        try
        {
            var options = new SimulatorOptions { GatewayUrl = gateway.WsUrl, Devices = devices, StateDirectory = dir };
            var first = SimulatedFleet.Start(options);
            await first.DisposeAsync();
            var second = SimulatedFleet.Start(options);
            var bootId = second.Boards[0].BootId;
            await second.DisposeAsync();

            Assert.Equal(2, bootId);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

/// <summary>End-to-end tests start gateways and boards: they run one class at a time.</summary>
[CollectionDefinition(Name)]
public sealed class EndToEndCollection
{
    public const string Name = "end to end";
}
