using IotWs.Firmware.Core;
using IotWs.Firmware.Tests.Fakes;
using IotWs.Protocol;

namespace IotWs.Firmware.Tests;

/// <summary>Device-side failover between a cluster's gateways (gatewayUrls), on the core with a scripted transport.</summary>
public class FailoverTests
{
    private const string A = "ws://gateway-a.test/ws";
    private const string B = "ws://gateway-b.test/ws";
    private const string C = "ws://gateway-c.test/ws";

    private static DeviceRig Cluster(params string[] urls) => new(s =>
    {
        s.GatewayUrl = urls[0];
        s.GatewayUrls = urls;
    });

    [Fact]
    public void A_failed_connect_moves_to_the_next_gateway_and_wraps_around()
    {
        var rig = Cluster(A, B, C);
        rig.Transport.AcceptConnects = false;

        for (var i = 0; i < 10_000 && rig.Transport.Connects < 5; i++) rig.Advance(50);

        Assert.Equal([A, B, C, A, B], rig.Transport.Urls.Take(5));
        Assert.Equal(5, rig.Core.Failovers); // the fifth failed too
    }

    [Theory]
    [InlineData(CloseCodes.GoingAway)]
    [InlineData(DeviceCore.AbnormalClosure)]
    [InlineData(CloseCodes.TryAgainLater)]
    public void A_close_of_1001_1006_or_1013_moves_to_the_next_gateway(int code)
    {
        var rig = Cluster(A, B);
        rig.ConnectAndAuthenticate();

        rig.Transport.ServerClose(code);
        rig.Tick();
        Assert.Equal(B, rig.Core.CurrentGatewayUrl);
        for (var i = 0; i < 10_000 && rig.Transport.Connects < 2; i++) rig.Advance(50);

        Assert.Equal([A, B], rig.Transport.Urls);
    }

    [Theory]
    [InlineData(CloseCodes.Normal)]
    [InlineData(CloseCodes.AuthFailed)]
    [InlineData(CloseCodes.Replaced)]
    [InlineData(1008)]
    public void Other_closes_stay_on_the_same_gateway(int code)
    {
        var rig = Cluster(A, B);
        rig.ConnectAndAuthenticate();

        rig.Transport.ServerClose(code);
        rig.Tick();
        for (var i = 0; i < 100_000 && rig.Transport.Connects < 2; i++) rig.Advance(50);

        Assert.Equal([A, A], rig.Transport.Urls);
        Assert.Equal(0, rig.Core.Failovers);
    }

    [Fact]
    public void A_connect_that_never_opens_or_a_gateway_that_never_welcomes_moves_on()
    {
        var rig = Cluster(A, B, C);
        rig.Transport.OpenOnConnect = false;
        rig.Tick();
        rig.Advance(rig.Settings.ConnectTimeoutMs + 100);
        Assert.Equal(B, rig.Core.CurrentGatewayUrl);

        rig.Transport.OpenOnConnect = true;
        for (var i = 0; i < 10_000 && rig.Transport.Connects < 2; i++) rig.Advance(50);
        rig.Advance(rig.Settings.HandshakeTimeoutMs + 100);

        Assert.Equal(C, rig.Core.CurrentGatewayUrl);
    }

    [Fact]
    public void The_backoff_is_the_same_with_a_list_as_with_one_gateway()
    {
        static List<int> Delays(DeviceRig rig)
        {
            rig.Transport.AcceptConnects = false;
            var delays = new List<int>();
            for (var i = 0; i < 100_000 && delays.Count < 8; i++)
            {
                var connects = rig.Transport.Connects;
                rig.Advance(50);
                if (rig.Transport.Connects != connects) delays.Add(rig.Core.LastBackoffMs);
            }
            return delays;
        }

        var single = Delays(new DeviceRig());
        var cluster = Delays(Cluster(A, B));

        Assert.Equal(single, cluster);
        Assert.Equal([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000], single);
    }

    [Fact]
    public void Readings_not_acked_by_the_lost_gateway_are_replayed_to_the_next_in_seq_order()
    {
        var rig = Cluster(A, B);
        rig.ConnectAndAuthenticate();
        rig.Advance(2000);
        var first = rig.Sent(MessageTypes.Data).SelectMany(DeviceRig.Seqs).Single();
        rig.Transport.Deliver(DeviceRig.Ack(first, 1));
        rig.Advance(6000); // three more readings, never acked

        rig.Transport.ServerClose(DeviceCore.AbnormalClosure); // gateway A was killed
        rig.Tick();
        rig.Transport.TakeSent();
        rig.ReconnectWithBacklog();

        Assert.Equal(B, rig.Transport.Urls[^1]);
        var replayed = rig.Sent(MessageTypes.Data).SelectMany(DeviceRig.Seqs).ToList();
        Assert.Equal([2L, 3L, 4L], replayed);
    }

    [Fact]
    public void A_single_gateway_url_still_works_and_never_fails_over()
    {
        var rig = new DeviceRig();
        rig.Transport.AcceptConnects = false;
        for (var i = 0; i < 10_000 && rig.Transport.Connects < 3; i++) rig.Advance(50);

        Assert.All(rig.Transport.Urls, u => Assert.Equal("ws://gateway.test/ws", u));
        Assert.Equal(0, rig.Core.Failovers);
    }

    [Fact]
    public void Config_json_takes_a_list_of_gateway_urls_and_one_url_still_works()
    {
        var json = new Host.SystemTextJsonCodec();

        var list = DeviceSettings.FromConfig(json.Parse($$"""{"gatewayUrls":["{{A}}","{{B}}"],"deviceId":"d","token":"t"}""")!, out var error);
        Assert.Null(error);
        Assert.Equal([A, B], list.EffectiveGatewayUrls);
        Assert.Equal(A, list.GatewayUrl);

        var both = DeviceSettings.FromConfig(json.Parse($$"""{"gatewayUrl":"{{A}}","gatewayUrls":["{{B}}","{{C}}"],"deviceId":"d","token":"t"}""")!, out error);
        Assert.Null(error);
        Assert.Equal([B, C], both.EffectiveGatewayUrls);

        var one = DeviceSettings.FromConfig(json.Parse($$"""{"gatewayUrl":"{{A}}","deviceId":"d","token":"t"}""")!, out error);
        Assert.Null(error);
        Assert.Equal([A], one.EffectiveGatewayUrls);
    }

    [Theory]
    [InlineData("""{"gatewayUrls":[],"deviceId":"d","token":"t"}""", "gatewayUrls must be a list of 1 to 8 ws:// or wss:// URLs")]
    [InlineData("""{"gatewayUrls":"ws://a/ws","deviceId":"d","token":"t"}""", "gatewayUrls must be a list of 1 to 8 ws:// or wss:// URLs")]
    [InlineData("""{"gatewayUrls":["ws://a/ws","http://b/ws"],"deviceId":"d","token":"t"}""", "gatewayUrls[1] must be a ws:// or wss:// URL")]
    [InlineData("""{"gatewayUrls":["ws://a/ws",7],"deviceId":"d","token":"t"}""", "gatewayUrls[1] must be a ws:// or wss:// URL")]
    [InlineData("""{"gatewayUrls":["ws://"],"deviceId":"d","token":"t"}""", "gatewayUrls[0] must be a ws:// or wss:// URL")]
    [InlineData("""{"gatewayUrls":["ws://1/ws","ws://2/ws","ws://3/ws","ws://4/ws","ws://5/ws","ws://6/ws","ws://7/ws","ws://8/ws","ws://9/ws"],"deviceId":"d","token":"t"}""", "gatewayUrls must be a list of 1 to 8 ws:// or wss:// URLs")]
    public void A_bad_gateway_list_is_refused_with_a_reason(string text, string expected)
    {
        var config = new Host.SystemTextJsonCodec().Parse(text)!;

        Assert.Null(DeviceSettings.FromConfig(config, out var error));
        Assert.Equal(expected, error);
    }
}
