using IotWs.Firmware.Host;

namespace IotWs.Firmware.Tests.EndToEnd;

/// <summary>
/// The simulator's boards against two real gateways on loopback (same devices and tokens): when the
/// first stops, they move to the second with the firmware's own failover and replay what was not acked.
/// </summary>
[Collection(EndToEndCollection.Name)]
public class FailoverEndToEndTests
{
    [Fact]
    public async Task Boards_move_to_the_second_gateway_when_the_first_stops_and_no_reading_is_lost()
    {
        await using var a = await RealGateway.StartAsync();
        var devices = a.AddDevices("sim-fo-1", "sim-fo-2");
        await using var b = await a.StartTwinAsync();
        var options = new SimulatorOptions { GatewayUrls = [a.WsUrl, b.WsUrl], Devices = devices, SensorFailureRate = 0 };

        var fleet = SimulatedFleet.Start(options, null, SimulatedFleetTests.Fast);
        try
        {
            await SimulatedFleetTests.WaitUntil(() => fleet.Boards.All(x => x.ReadingsAcked >= 2), "both boards had readings stored on the first gateway");
            Assert.All(fleet.Boards, x => Assert.Equal(a.WsUrl.ToString(), x.CurrentGatewayUrl));

            await a.StopAsync();
            await SimulatedFleetTests.WaitUntil(() => fleet.Boards.All(x => x.CurrentGatewayUrl == b.WsUrl.ToString() && x.IsRunning), "both boards run on the second gateway");
            await SimulatedFleetTests.WaitUntil(() => devices.All(d => b.StoredKeys(d.DeviceId).Count >= 2), "the second gateway stored readings of both boards");

            foreach (var board in fleet.Boards) board.SensorFailing = true;
            await SimulatedFleetTests.WaitUntil(() => fleet.Boards.All(x => x.Buffered == 0), "every backlog was acked");

            await a.StartAgainAsync(); // to read what it stored
            foreach (var board in fleet.Boards)
            {
                Assert.True(board.Failovers >= 1);
                // Every reading taken is stored on one gateway or the other (a reading whose ack was lost
                // with the first gateway may be on both: the nodes of a real cluster share one database).
                var stored = a.StoredKeys(board.DeviceId).Concat(b.StoredKeys(board.DeviceId)).Select(k => k.Seq).ToHashSet();
                Assert.Equal(Enumerable.Range(1, (int)board.LastSeq).Select(i => (long)i), stored.Order());
                Assert.Equal(board.ReadingsTaken, board.ReadingsAcked);
            }
        }
        finally
        {
            await fleet.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_gateways_simulator_takes_a_list_of_gateway_urls_and_fails_over_from_a_dead_one()
    {
        // Gateway A simulates a board whose URL list is [nothing listening, gateway B]; B is A's twin.
        var portB = RealGateway.FreePort();
        var dead = $"ws://127.0.0.1:{RealGateway.FreePort()}/ws";
        await using var a = await RealGateway.StartAsync(RealGateway.FreePort(), "--simulate", "1", "--Gateway:SimulateGatewayUrls", $"{dead},ws://127.0.0.1:{portB}/ws");
        await using var b = await a.StartTwinAsync(portB);

        await SimulatedFleetTests.WaitUntil(() => b.StoredKeys("sim-001").Count >= 2, "the simulated board had readings stored on gateway B", 60);
        Assert.Empty(a.StoredKeys("sim-001"));
    }

    [Fact]
    public async Task A_bad_simulator_gateway_url_stops_the_gateway_with_a_clear_reason()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            RealGateway.StartAsync(RealGateway.FreePort(), "--simulate", "1", "--Gateway:SimulateGatewayUrls", "http://127.0.0.1:1/ws"));

        Assert.Equal("Gateway:SimulateGatewayUrls: 'http://127.0.0.1:1/ws' is not a ws:// or wss:// URL (e.g. ws://127.0.0.1:5080/ws)", error.Message);
    }
}
