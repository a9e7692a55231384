using IotWs.Firmware.Core;
using IotWs.Firmware.Tests.Fakes;

namespace IotWs.Firmware.Tests;

/// <summary>
/// A WiFi radio that behaves like WifiNetworkHelper on a board: a join stores the credentials (one
/// flash write) and a failed call blocks for its whole timeout; the access point comes and goes as
/// the test says, and the driver re-joins by itself only once it has credentials with auto-connect.
/// </summary>
internal sealed class FakeWifiRadio(FakeClock clock) : IWifiRadio
{
    public bool AccessPointUp { get; set; } = true;
    public bool Connected { get; set; }
    public bool StoredCredentials { get; set; }
    public int FlashWrites { get; private set; }
    public List<string> Calls { get; } = [];

    public bool HasAddress => Connected && AccessPointUp;
    public string LastStatus { get; private set; } = "none";

    public bool HoldsCredentials(string ssid, string password) => StoredCredentials;

    public bool Join(string ssid, string password, int timeoutMs)
    {
        Calls.Add("join");
        FlashWrites++;
        StoredCredentials = true;
        return Finish(timeoutMs);
    }

    public bool WaitForReconnect(int timeoutMs)
    {
        Calls.Add("wait");
        return Finish(timeoutMs);
    }

    private bool Finish(int timeoutMs)
    {
        if (AccessPointUp && StoredCredentials)
        {
            Connected = true;
            LastStatus = "status NetworkIsReady";
            clock.Advance(300);
            return true;
        }
        LastStatus = "status TokenExpiredWaitingIPAddress";
        clock.Advance(timeoutMs);
        return false;
    }
}

public class WifiSupervisorTests
{
    private sealed class Rig
    {
        public FakeClock Clock { get; } = new();
        public FakeWifiRadio Radio { get; }
        public ListLog Log { get; } = new();
        public WifiSupervisor Wifi { get; }

        public Rig()
        {
            Radio = new FakeWifiRadio(Clock);
            Wifi = new WifiSupervisor("home", "secret", Radio, Clock, new HighestRandom(), Log);
        }

        /// <summary>Runs the supervisor as the board's WiFi thread does: a step, then 500 ms of sleep.</summary>
        public void RunFor(long ms)
        {
            var end = Clock.TickCount + ms;
            while (Clock.TickCount < end)
            {
                Wifi.Step();
                Clock.Advance(500);
            }
        }
    }

    [Fact]
    public void A_fresh_board_joins_once_and_stays_online_without_touching_the_radio_again()
    {
        var rig = new Rig();

        rig.RunFor(600_000);

        Assert.True(rig.Wifi.IsOnline);
        Assert.Equal(["join"], rig.Radio.Calls);
        Assert.Equal(1, rig.Radio.FlashWrites);
    }

    [Fact]
    public void A_lost_access_point_is_waited_for_and_never_makes_a_flash_write_loop()
    {
        var rig = new Rig();
        rig.RunFor(10_000);
        Assert.True(rig.Wifi.IsOnline);

        // An hour without the access point, then it comes back.
        rig.Radio.AccessPointUp = false;
        rig.RunFor(3_600_000);
        Assert.False(rig.Wifi.IsOnline);
        rig.Radio.AccessPointUp = true;
        rig.RunFor(200_000);

        Assert.True(rig.Wifi.IsOnline);
        Assert.Equal(1, rig.Wifi.Drops);
        // The first join, then at most one more per half hour of outage: 3 flash writes, not hundreds.
        Assert.InRange(rig.Radio.FlashWrites, 1, 1 + 3_600_000 / WifiSupervisor.MinJoinIntervalMs);
        Assert.True(rig.Wifi.Waits >= 15, $"only {rig.Wifi.Waits} waits for the driver");
        Assert.Equal("wait", rig.Radio.Calls[1]);
    }

    [Fact]
    public void Credentials_already_on_flash_are_not_written_again_when_the_driver_joins_by_itself()
    {
        var rig = new Rig();
        rig.Radio.StoredCredentials = true;

        rig.RunFor(60_000);

        Assert.True(rig.Wifi.IsOnline);
        Assert.Equal(["wait"], rig.Radio.Calls);
        Assert.Equal(0, rig.Radio.FlashWrites);
    }

    [Fact]
    public void With_stored_credentials_a_join_comes_only_after_the_driver_had_its_chance()
    {
        var rig = new Rig();
        rig.Radio.StoredCredentials = true;
        rig.Radio.AccessPointUp = false;

        rig.RunFor(WifiSupervisor.JoinStoredAfterMs - 1000);
        Assert.Equal(0, rig.Radio.FlashWrites);

        rig.RunFor(WifiSupervisor.BackoffCapMs + WifiSupervisor.JoinTimeoutMs);
        Assert.Equal(1, rig.Radio.FlashWrites);
    }

    [Fact]
    public void Every_failure_is_logged_with_the_radio_status_and_the_next_delay()
    {
        var rig = new Rig();
        rig.Radio.AccessPointUp = false;

        rig.RunFor(100_000);

        var failures = rig.Log.Lines.Where(l => l.StartsWith("warn: wifi:", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(failures);
        Assert.Contains("join failed (status TokenExpiredWaitingIPAddress); next try in", failures[0], StringComparison.Ordinal);
        Assert.Contains(failures, f => f.Contains("wait for reconnection failed (status TokenExpiredWaitingIPAddress)", StringComparison.Ordinal));
    }

    [Fact]
    public void Waits_back_off_up_to_the_cap_and_start_over_once_online()
    {
        var rig = new Rig();
        rig.Radio.AccessPointUp = false;
        rig.RunFor(1_500_000);

        var delays = rig.Log.Lines.Where(l => l.Contains("next try in", StringComparison.Ordinal))
            .Select(l => int.Parse(l[(l.LastIndexOf("in ", StringComparison.Ordinal) + 3)..l.LastIndexOf(" ms", StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture))
            .ToList();
        Assert.Equal(WifiSupervisor.BackoffBaseMs, delays[0]);
        Assert.True(delays.SequenceEqual(delays.Order()), string.Join(",", delays));
        Assert.Equal(WifiSupervisor.BackoffCapMs, delays[^1]);

        rig.Radio.AccessPointUp = true;
        rig.RunFor(200_000);
        rig.Radio.AccessPointUp = false;
        rig.Log.Lines.Clear();
        rig.RunFor(30_000);
        Assert.Contains(rig.Log.Lines, l => l.EndsWith("next try in " + WifiSupervisor.BackoffBaseMs + " ms", StringComparison.Ordinal));
    }
}
