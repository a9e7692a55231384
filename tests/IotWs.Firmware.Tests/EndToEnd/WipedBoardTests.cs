using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using IotWs.Firmware.Host;

namespace IotWs.Firmware.Tests.EndToEnd;

/// <summary>A board whose flash was wiped, against the real gateway: auth_response's lastBootId moves it above its old boots.</summary>
[Collection(EndToEndCollection.Name)]
public class WipedBoardTests
{
    [Fact]
    public async Task A_wiped_board_boots_above_its_stored_boots_and_every_reading_of_both_lives_is_stored()
    {
        await using var gateway = await RealGateway.StartAsync();
        var devices = gateway.AddDevices("sim-wiped");
        var options = new SimulatorOptions { GatewayUrl = gateway.WsUrl, Devices = devices, SensorFailureRate = 0 };

        // First life: readings of boot 1 stored. Its store lives in memory, so it dies with the fleet: the wipe.
        var first = SimulatedFleet.Start(options, null, SimulatedFleetTests.Fast);
        await SimulatedFleetTests.WaitUntil(() => first.Boards[0].ReadingsAcked >= 3, "the first life had three readings stored");
        first.Boards[0].SensorFailing = true;
        await SimulatedFleetTests.WaitUntil(() => first.Boards[0].Buffered == 0, "the first life's backlog was acked");
        var firstTaken = first.Boards[0].ReadingsTaken;
        await first.DisposeAsync();
        await SimulatedFleetTests.WaitUntil(() => gateway.StoredKeys("sim-wiped").Count == firstTaken, "the first life's readings were committed");

        var second = SimulatedFleet.Start(options, null, SimulatedFleetTests.Fast);
        var board = second.Boards[0];
        try
        {
            await SimulatedFleetTests.WaitUntil(() => board.ReadingsAcked >= 3, "the wiped board had three readings stored");
            board.SensorFailing = true;
            await SimulatedFleetTests.WaitUntil(() => board.Buffered == 0, "the wiped board's backlog was acked");
            Assert.Equal(2, board.BootId);

            await SimulatedFleetTests.WaitUntil(() => gateway.StoredKeys("sim-wiped").Count == firstTaken + board.ReadingsTaken, "every reading of both lives was stored");
            var keys = gateway.StoredKeys("sim-wiped");
            Assert.Equal(firstTaken, keys.Count(k => k.BootId == 1));
            Assert.Equal(Enumerable.Range(1, (int)board.LastSeq).Select(i => (long)i), keys.Where(k => k.BootId == 2).Select(k => k.Seq));
        }
        finally
        {
            await second.DisposeAsync();
        }
    }

    [Fact]
    public async Task Auth_response_carries_last_boot_id_only_once_the_device_has_readings_stored()
    {
        await using var gateway = await RealGateway.StartAsync();
        var token = gateway.AddDevices("raw-1")[0].Token;

        var before = await AuthResponseAsync(gateway, token);
        Assert.False(before.TryGetProperty("lastBootId", out _));

        using (var ws = await OpenAsync(gateway, token, bootId: 7))
        {
            await SendAsync(ws, """{"type":"data","dataType":"sensor","seq":1,"bootId":7,"data":{"temperature":21.5,"humidity":40}}""");
            var ack = await ReceiveAsync(ws);
            Assert.True(ack.GetProperty("success").GetBoolean(), ack.ToString());
        }
        var after = await AuthResponseAsync(gateway, token);
        Assert.Equal(7, after.GetProperty("lastBootId").GetInt64());
        Assert.Equal("device", after.GetProperty("role").GetString());
    }

    private static async Task<JsonElement> AuthResponseAsync(RealGateway gateway, string token)
    {
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(gateway.WsUrl, CancellationToken.None);
        await ReceiveAsync(ws); // welcome
        await SendAsync(ws, $$"""{"type":"auth","token":"{{token}}"}""");
        var response = await ReceiveAsync(ws);
        Assert.Equal("auth_response", response.GetProperty("type").GetString());
        return response;
    }

    private static async Task<ClientWebSocket> OpenAsync(RealGateway gateway, string token, long bootId)
    {
        var ws = new ClientWebSocket();
        await ws.ConnectAsync(gateway.WsUrl, CancellationToken.None);
        await ReceiveAsync(ws);
        await SendAsync(ws, $$"""{"type":"handshake","clientType":"microcontroller","deviceId":"raw-1","bootId":{{bootId}}}""");
        await ReceiveAsync(ws);
        await SendAsync(ws, $$"""{"type":"auth","token":"{{token}}"}""");
        await ReceiveAsync(ws);
        return ws;
    }

    private static Task SendAsync(ClientWebSocket ws, string text) =>
        ws.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task<JsonElement> ReceiveAsync(ClientWebSocket ws)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var buffer = new byte[65536];
        var length = 0;
        while (true)
        {
            var result = await ws.ReceiveAsync(buffer.AsMemory(length), timeout.Token);
            length += result.Count;
            if (result.EndOfMessage) break;
        }
        return JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
    }
}
