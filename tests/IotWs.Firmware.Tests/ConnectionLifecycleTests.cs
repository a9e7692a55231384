using System.Collections;
using IotWs.Firmware.Core;
using IotWs.Firmware.Tests.Fakes;
using IotWs.Protocol;

namespace IotWs.Firmware.Tests;

public class ConnectionLifecycleTests
{
    [Fact]
    public void Welcome_is_answered_with_handshake_and_auth_back_to_back()
    {
        var rig = new DeviceRig();
        rig.Tick();
        rig.Tick();
        Assert.Equal(ConnectionState.AwaitWelcome, rig.Core.State);

        rig.Transport.Deliver(DeviceRig.Welcome());
        rig.Tick();

        var sent = rig.Transport.TakeSent();
        Assert.Equal(2, sent.Count);
        var handshake = sent[0];
        Assert.Equal(MessageTypes.Handshake, handshake[Fields.Type]);
        Assert.Equal(ClientTypes.Microcontroller, handshake[Fields.ClientType]);
        Assert.Equal(DeviceInfo.FirmwareVersion, handshake[Fields.Version]);
        Assert.Equal("esp32-kitchen", handshake[Fields.DeviceId]);
        Assert.Equal(1, handshake[Fields.BootId]);
        Assert.Equal(30000, handshake[Fields.HeartbeatInterval]);
        Assert.Contains(Capabilities.SensorData, ((ArrayList)handshake[Fields.Capabilities]!).Cast<string>());
        Assert.Equal(MessageTypes.Auth, sent[1][Fields.Type]);
        Assert.Equal("tok-123", sent[1][Fields.Token]);
        Assert.Equal(ConnectionState.AwaitAuth, rig.Core.State);
    }

    [Fact]
    public void Auth_is_sent_even_when_the_welcome_says_auth_is_not_required()
    {
        var rig = new DeviceRig();
        rig.Tick();
        rig.Tick();
        rig.Transport.Deliver(DeviceRig.Welcome(authRequired: false));
        rig.Tick();

        Assert.Contains(rig.Transport.TakeSent(), m => (string?)m[Fields.Type] == MessageTypes.Auth);
    }

    [Fact]
    public void Successful_auth_enters_running()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();

        Assert.True(rig.Core.IsRunning);
        Assert.Equal(1, rig.Core.ConnectAttempts);
    }

    [Fact]
    public void Failed_auth_backs_off_at_least_the_refused_floor_and_loses_no_readings()
    {
        var rig = new DeviceRig();
        rig.Tick();
        rig.Tick();
        rig.Transport.Deliver(DeviceRig.Welcome());
        rig.Tick();
        rig.Transport.Deliver(DeviceRig.AuthFailed());
        rig.Tick();

        Assert.Equal(ConnectionState.Backoff, rig.Core.State);
        Assert.Equal(1, rig.Core.AuthRefusals);
        Assert.InRange(rig.Core.LastBackoffMs, rig.Settings.RefusedFloorMs, rig.Settings.BackoffCapMs);
        Assert.Single(rig.Transport.Closes);

        // Readings keep being taken while the device waits out the refusal.
        rig.Advance(rig.Core.LastBackoffMs - 100);
        Assert.Equal(1, rig.Transport.Connects);
        Assert.True(rig.Core.Buffered >= 14);
        var buffered = rig.Core.Buffered;

        rig.Advance(200);
        Assert.Equal(2, rig.Transport.Connects);
        rig.Transport.Deliver(DeviceRig.Welcome());
        rig.Tick();
        rig.Transport.Deliver(DeviceRig.AuthOk());
        rig.Tick();

        var seqs = rig.Sent(MessageTypes.Data).SelectMany(DeviceRig.Seqs).ToList();
        Assert.Equal(Enumerable.Range(1, buffered).Select(i => (long)i), seqs.Take(buffered));
    }

    [Fact]
    public void Close_4401_without_an_auth_response_is_treated_as_a_refusal()
    {
        var rig = new DeviceRig();
        rig.Tick();
        rig.Tick();
        rig.Transport.ServerClose(CloseCodes.AuthFailed);
        rig.Tick();

        Assert.Equal(CloseCodes.AuthFailed, rig.Core.LastCloseCode);
        Assert.True(rig.Core.LastBackoffMs >= rig.Settings.RefusedFloorMs);
    }

    [Fact]
    public void Close_1013_is_honoured_with_at_least_the_try_again_floor()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Transport.ServerClose(CloseCodes.TryAgainLater);
        rig.Tick();

        Assert.Equal(ConnectionState.Backoff, rig.Core.State);
        Assert.True(rig.Core.LastBackoffMs >= rig.Settings.TryAgainLaterFloorMs);
        rig.Advance(rig.Settings.TryAgainLaterFloorMs - 100);
        Assert.Equal(1, rig.Transport.Connects);
    }

    [Fact]
    public void Close_4409_replaced_backs_off_like_a_refusal_so_twins_do_not_fight()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Transport.ServerClose(CloseCodes.Replaced);
        rig.Tick();

        Assert.True(rig.Core.LastBackoffMs >= rig.Settings.RefusedFloorMs);
        rig.Advance(rig.Settings.RefusedFloorMs - 100);
        Assert.Equal(1, rig.Transport.Connects);
    }

    [Fact]
    public void A_dropped_link_reconnects_after_the_first_backoff_step()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Transport.ServerClose(DeviceCore.AbnormalClosure);
        rig.Tick();

        // Jitter picks the top of the range here: the first step is 1 s.
        Assert.Equal(1000, rig.Core.LastBackoffMs);
        rig.Advance(950);
        Assert.Equal(1, rig.Transport.Connects);
        rig.Advance(100);
        Assert.Equal(2, rig.Transport.Connects);
    }

    [Fact]
    public void Failed_connects_back_off_exponentially_up_to_the_cap_and_reset_after_auth()
    {
        var rig = new DeviceRig();
        rig.Transport.AcceptConnects = false;
        var delays = new List<int>();
        rig.Tick();
        for (var i = 0; i < 9; i++)
        {
            delays.Add(rig.Core.LastBackoffMs);
            rig.Advance(rig.Core.LastBackoffMs);
        }

        Assert.Equal([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000], delays);

        rig.Transport.AcceptConnects = true;
        rig.Advance(rig.Core.LastBackoffMs);
        rig.Tick();
        rig.Transport.Deliver(DeviceRig.Welcome());
        rig.Tick();
        rig.Transport.Deliver(DeviceRig.AuthOk());
        rig.Tick();
        rig.Transport.ServerClose(DeviceCore.AbnormalClosure);
        rig.Tick();
        Assert.Equal(1000, rig.Core.LastBackoffMs);
    }

    [Fact]
    public void A_missing_welcome_times_out_and_the_device_reconnects()
    {
        var rig = new DeviceRig();
        rig.Tick();
        rig.Tick();
        rig.Advance(rig.Settings.HandshakeTimeoutMs + 100);

        Assert.Equal(ConnectionState.Backoff, rig.Core.State);
        Assert.Single(rig.Transport.Closes);
    }

    [Fact]
    public void A_connection_that_never_opens_times_out()
    {
        var rig = new DeviceRig();
        rig.Transport.OpenOnConnect = false;
        rig.Tick();
        Assert.Equal(ConnectionState.Connecting, rig.Core.State);
        rig.Advance(rig.Settings.ConnectTimeoutMs + 100);

        Assert.Equal(ConnectionState.Backoff, rig.Core.State);
    }

    [Fact]
    public void Reports_from_an_abandoned_connection_are_ignored()
    {
        var rig = new DeviceRig();
        rig.Tick();
        rig.Tick();
        var oldLink = rig.Transport.Listener!;
        rig.Advance(rig.Settings.HandshakeTimeoutMs + 100);
        Assert.Equal(ConnectionState.Backoff, rig.Core.State);

        oldLink.OnMessage(DeviceRig.Welcome());
        oldLink.OnMessage(DeviceRig.AuthOk());
        rig.Tick();

        Assert.Equal(ConnectionState.Backoff, rig.Core.State);
    }

    [Fact]
    public void A_welcome_that_arrives_before_the_open_report_still_starts_the_handshake()
    {
        // The ESP32 client starts its receive thread inside Connect, so the welcome can come first.
        var rig = new DeviceRig();
        rig.Transport.OpenOnConnect = false;
        rig.Tick();
        rig.Transport.Deliver(DeviceRig.Welcome());
        rig.Transport.Listener!.OnOpened();
        rig.Tick();

        Assert.Equal(ConnectionState.AwaitAuth, rig.Core.State);
    }

    [Fact]
    public void Requests_before_authentication_are_not_answered()
    {
        var rig = new DeviceRig();
        rig.Tick();
        rig.Tick();
        rig.Transport.Deliver(DeviceRig.Welcome());
        rig.Tick();
        rig.Transport.TakeSent();
        rig.Transport.Deliver(DeviceRig.Request("r1", Endpoints.Ping));
        rig.Tick();

        Assert.Empty(rig.Transport.TakeSent());
    }
}
