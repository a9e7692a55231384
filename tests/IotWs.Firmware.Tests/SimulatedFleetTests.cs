using System.Text.Json.Nodes;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;
using IotWs.Firmware.Tests.Fakes;

namespace IotWs.Firmware.Tests;

/// <summary>The host transport and simulated boards over real sockets, against a minimal stand-in gateway.</summary>
public class SimulatedFleetTests
{
    internal static void Fast(DeviceSettings s)
    {
        s.BackoffBaseMs = 200;
        s.BackoffCapMs = 1000;
        s.AckTimeoutMs = 3000;
    }

    internal static async Task WaitUntil(Func<bool> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting until " + what);
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Boards_authenticate_and_every_reading_is_stored_exactly_once_across_a_dropped_link()
    {
        await using var gateway = await MiniGateway.StartAsync(new() { ["sim-1"] = "t1", ["sim-2"] = "t2" });
        var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrl = gateway.Url,
            Devices = [new("sim-1", "t1"), new("sim-2", "t2")],
            SensorFailureRate = 0,
        }, null, Fast);
        var boards = fleet.Boards;

        await WaitUntil(() => boards.All(b => b.IsRunning && b.ReadingsAcked >= 2), "both boards had two readings acked");
        boards[0].DropLink();
        await WaitUntil(() => !boards[0].IsRunning || boards[0].ReadingsAcked >= 3, "the link dropped");
        var acked = boards[0].ReadingsAcked;
        await WaitUntil(() => boards[0].IsRunning && boards[0].ReadingsAcked >= acked + 2, "board 1 was back and acked more");
        await fleet.DisposeAsync();

        foreach (var board in boards)
        {
            var seqs = gateway.StoredSeqs(board.DeviceId, 1);
            Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
            Assert.Equal(board.ReadingsAcked, seqs.Count);
        }
        Assert.True(gateway.Accepted >= 3);
    }

    [Fact]
    public async Task An_unreachable_gateway_is_ridden_out_by_buffering_and_replaying_in_order()
    {
        await using var gateway = await MiniGateway.StartAsync(new() { ["sim-3"] = "t3" });
        var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrl = gateway.Url,
            Devices = [new("sim-3", "t3")],
            SensorFailureRate = 0,
        }, null, Fast);
        var board = fleet.Boards[0];

        await WaitUntil(() => board.IsRunning && board.ReadingsAcked >= 1, "the board was running");
        board.GatewayUnreachable = true;
        var taken = board.ReadingsTaken;
        await WaitUntil(() => board.ReadingsTaken >= taken + 3, "three readings were taken offline");
        Assert.True(board.Buffered >= 3);
        board.GatewayUnreachable = false;
        await WaitUntil(() => board.IsRunning && board.Buffered <= 1 && board.ReadingsAcked >= taken + 3, "the backlog was replayed");
        await fleet.DisposeAsync();

        var seqs = gateway.StoredSeqs("sim-3", 1);
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
        Assert.Contains(gateway.Received, m => (string?)m["type"] == "data" && m["batch"] is JsonArray);
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

/// <summary>Simulated boards' own lifecycle over real sockets: reboot, refusal, persisted boot ids.</summary>
public class SimulatedBoardLifecycleTests
{
    private static void Fast(DeviceSettings s) => SimulatedFleetTests.Fast(s);

    private static Task WaitUntil(Func<bool> condition, string what, int seconds = 20) => SimulatedFleetTests.WaitUntil(condition, what, seconds);

    [Fact]
    public async Task A_reboot_request_is_answered_and_the_board_returns_with_a_higher_boot_id()
    {
        await using var gateway = await MiniGateway.StartAsync(new() { ["sim-4"] = "t4" });
        var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrl = gateway.Url,
            Devices = [new("sim-4", "t4")],
            SensorFailureRate = 0,
        }, null, Fast);
        var board = fleet.Boards[0];
        await WaitUntil(() => board.IsRunning, "the board was running");

        await gateway.SendRequestAsync("sim-4", "req_1", "reboot");
        await WaitUntil(() => board.BootId == 2 && board.IsRunning, "the board rebooted and came back");
        await fleet.DisposeAsync();

        var answer = Assert.Single(gateway.Received, m => (string?)m["type"] == "response");
        Assert.Equal("Rebooting in 3 seconds", (string?)answer["data"]?["message"]);
        Assert.Contains(gateway.Received, m => (string?)m["type"] == "handshake" && (long?)m["bootId"] == 2);
        Assert.Equal(2, board.Boots);
    }

    [Fact]
    public async Task A_board_with_a_wrong_token_is_refused_and_does_not_hammer_the_gateway()
    {
        await using var gateway = await MiniGateway.StartAsync(new() { ["sim-5"] = "right" });
        var fleet = SimulatedFleet.Start(new SimulatorOptions
        {
            GatewayUrl = gateway.Url,
            Devices = [new("sim-5", "wrong")],
        }, null, s => s.BackoffBaseMs = 200);
        var board = fleet.Boards[0];

        await WaitUntil(() => gateway.Accepted == 1 && board.State == ConnectionState.Backoff, "the board was refused");
        await Task.Delay(2500);
        await fleet.DisposeAsync();

        Assert.Equal(1, gateway.Accepted);
        Assert.False(board.IsRunning);
    }

    [Fact]
    public async Task Boot_ids_persist_in_the_state_directory_across_simulator_runs()
    {
        await using var gateway = await MiniGateway.StartAsync(new() { ["sim-6"] = "t6" });
        var dir = Directory.CreateTempSubdirectory("iotws-sim-").FullName;
        try
        {
            var options = new SimulatorOptions { GatewayUrl = gateway.Url, Devices = [new("sim-6", "t6")], StateDirectory = dir };
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
