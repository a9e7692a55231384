using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using IotWs.Dashboard.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace IotWs.Dashboard.Tests;

/// <summary>The dashboard in Chromium against the real gateway, with devices speaking the real protocol.</summary>
[Collection(BrowserCollection.Name)]
public sealed class DashboardTests(Browser browser, ITestOutputHelper output)
{
    private Task<PageSession> OpenAsync(DashboardGateway gateway, int width = 1280, int height = 900) =>
        PageSession.OpenAsync(browser, gateway.BaseUrl, output, width, height);

    [ChromiumFact]
    public async Task Login_shows_the_role_and_logout_forgets_the_key()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var key = gateway.AddKey("viewer");
        await using var session = await OpenAsync(gateway);
        var page = session.Page;

        await session.LoginAsync(key);

        await Expect(page.GetByTestId("who-role")).ToHaveTextAsync("viewer");
        Assert.Equal(key, await page.EvaluateAsync<string>("sessionStorage.getItem('iotws.apiKey')"));
        await Expect(page.GetByTestId("fleet-view")).ToBeVisibleAsync();

        await page.GetByTestId("logout").ClickAsync();

        await Expect(page.GetByTestId("login-key")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("login-message")).ToContainTextAsync("logged out");
        Assert.Null(await page.EvaluateAsync<string?>("sessionStorage.getItem('iotws.apiKey')"));
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task A_wrong_key_is_refused_with_a_clear_message()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        await using var session = await OpenAsync(gateway);
        session.Allow("status of 401"); // Chromium logs the refused /api/me itself
        var page = session.Page;
        await page.GotoAsync("/");

        await page.GetByTestId("login-key").FillAsync("not-a-key");
        await page.GetByTestId("login-key").PressAsync("Enter");

        await Expect(page.GetByTestId("login-message")).ToContainTextAsync("not accepted");
        await Expect(page.GetByTestId("fleet-view")).ToBeHiddenAsync();
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task A_reading_appears_on_its_card_within_two_seconds()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("esp32-kitchen", "Kitchen", "ground floor");
        gateway.AddDevice("esp32-attic", "Attic", "roof");
        var key = gateway.AddKey("viewer");
        await using var device = gateway.Device("esp32-kitchen", token);
        await device.ConnectAsync();
        device.StartHeartbeats();
        await using var session = await OpenAsync(gateway);
        var page = session.Page;
        await session.LoginAsync(key);
        await Expect(page.GetByTestId("device-status-esp32-kitchen")).ToContainTextAsync("online");

        var sent = Stopwatch.StartNew();
        await device.SendReadingAsync(23.47, 51.23);
        await Expect(page.GetByTestId("device-temp-esp32-kitchen")).ToHaveTextAsync("23.5", new() { Timeout = 2000 });
        await Expect(page.GetByTestId("device-hum-esp32-kitchen")).ToHaveTextAsync("51.2", new() { Timeout = 2000 });
        Assert.True(sent.Elapsed < TimeSpan.FromSeconds(2), $"the card took {sent.Elapsed}");

        await Expect(page.GetByTestId("device-seen-esp32-kitchen")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d s ago$"));
        await Expect(page.GetByTestId("device-card-esp32-kitchen")).ToContainTextAsync("Kitchen");
        await Expect(page.GetByTestId("device-card-esp32-attic")).ToContainTextAsync("Attic");
        await session.ScreenshotAsync("fleet");

        // The card is a link: reachable and opened with the keyboard alone.
        await page.GetByTestId("device-card-esp32-kitchen").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.GetByTestId("device-title")).ToHaveTextAsync("Kitchen");

        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync("/#/");
        await Expect(page.GetByTestId("device-card-esp32-kitchen")).ToBeVisibleAsync();
        await session.ScreenshotAsync("fleet-phone");
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task A_device_that_goes_silent_turns_stale_then_offline_and_its_card_shows_the_last_value_as_unavailable()
    {
        // A one-second grace: the test watches the offline alert without waiting the default two minutes.
        await using var gateway = await DashboardGateway.StartAsync("Alerts:OfflineGrace=00:00:01");
        var token = gateway.AddDevice("esp32-shed", "Shed", "garden");
        var key = gateway.AddKey("technician");
        await using var session = await OpenAsync(gateway);
        var page = session.Page;
        await session.LoginAsync(key);

        // The device declares a 4 s heartbeat, then says nothing more after one reading:
        // stale after 6 s of silence, offline after 12 s (windows wide enough to observe each
        // state on a busy 2-core machine).
        await using var device = gateway.Device("esp32-shed", token, heartbeatMs: 4000);
        await device.ConnectAsync();
        await device.SendReadingAsync(18.0, 60.0);

        var status = page.GetByTestId("device-status-esp32-shed");
        var card = page.GetByTestId("device-card-esp32-shed");
        await Expect(status).ToContainTextAsync("online", new() { Timeout = 5000 });
        await Expect(card).Not.ToHaveClassAsync(new Regex("unavailable"));
        // The live colour is read once the reading is on the card (before it, the card says "no reading yet" in grey).
        await Expect(page.GetByTestId("device-temp-esp32-shed")).ToHaveTextAsync("18.0");
        var liveColour = await page.GetByTestId("device-values-esp32-shed").EvaluateAsync<string>("e => getComputedStyle(e).color");
        await Expect(status).ToContainTextAsync("stale", new() { Timeout = 15_000 });
        await Expect(status).ToContainTextAsync("offline", new() { Timeout = 15_000 });
        await Expect(card).ToHaveClassAsync(new Regex("status-offline"));

        // Offline: greyed, smaller, and said to be the last value with its age.
        await Expect(card).ToHaveClassAsync(new Regex("unavailable"));
        await Expect(card).ToContainTextAsync(new Regex(@"Unavailable — last value \d+ s ago"));
        var values = page.GetByTestId("device-values-esp32-shed");
        Assert.NotEqual(liveColour, await values.EvaluateAsync<string>("e => getComputedStyle(e).color"));
        Assert.Equal("17.6px", await values.EvaluateAsync<string>("e => getComputedStyle(e).fontSize"));
        await Expect(page.GetByTestId("device-temp-esp32-shed")).ToHaveTextAsync("18.0");

        // The gateway's default 'device-offline' rule raises an alert once the grace is over, pushed on system_alerts.
        await Expect(page.GetByTestId("alert-count")).ToHaveTextAsync("1");
        await Expect(page.GetByTestId("fleet-alerts")).ToBeVisibleAsync();
        await session.ScreenshotAsync("fleet-offline");
        await page.GetByTestId("nav-alerts").ClickAsync();
        var active = page.GetByTestId("alerts-list").Locator("li.alert.active");
        await Expect(active).ToHaveCountAsync(1);
        await Expect(page.GetByTestId("alerts-list")).ToContainTextAsync("Shed");
        await Expect(active.GetByTestId("alert-message")).ToHaveTextAsync("esp32-shed went offline (heartbeat timeout)");

        // A technician acknowledges it: who and when is shown, and the badge no longer counts it.
        await active.GetByTestId("alert-ack").ClickAsync();
        await Expect(active.GetByTestId("alert-acknowledged")).ToContainTextAsync("Acknowledged by technician-");
        await Expect(page.GetByTestId("alert-count")).ToBeHiddenAsync();
        await Expect(active.GetByTestId("alert-ack")).ToHaveCountAsync(0);

        // Back online: cleared, the original problem still readable, with how it ended and how long it lasted.
        await device.RebootAsync();
        var cleared = page.GetByTestId("alerts-list").Locator("li.alert.cleared");
        await Expect(cleared).ToHaveCountAsync(1);
        await Expect(cleared.GetByTestId("alert-message")).ToHaveTextAsync("esp32-shed went offline (heartbeat timeout)");
        await Expect(cleared.GetByTestId("alert-resolution")).ToContainTextAsync("Cleared: back online after");
        await Expect(cleared.GetByTestId("alert-times")).ToContainTextAsync(new Regex(@"lasted\s\d+\ss"));
        await Expect(cleared.GetByTestId("alert-acknowledged")).ToContainTextAsync("Acknowledged by technician-");
        await session.ScreenshotAsync("alerts");
        await page.SetViewportSizeAsync(390, 844);
        await session.ScreenshotAsync("alerts-phone");
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task A_viewer_sees_no_commands_and_the_api_refuses_their_reboot()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("esp32-hall", "Hall", null);
        var key = gateway.AddKey("viewer");
        await using var device = gateway.Device("esp32-hall", token);
        await device.ConnectAsync();
        await using var session = await OpenAsync(gateway);
        var page = session.Page;
        await session.LoginAsync(key);

        await page.GetByTestId("device-card-esp32-hall").ClickAsync();
        await Expect(page.GetByTestId("device-title")).ToHaveTextAsync("Hall");
        await Expect(page.GetByTestId("presence-history")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("rpc-reboot")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("rpc-panel")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("nav-audit")).ToBeHiddenAsync();

        using var http = gateway.Http(key);
        using var response = await http.PostAsJsonAsync("/api/devices/esp32-hall/rpc",
            new { endpoint = "reboot", data = new { }, timeoutMs = 5000, persistent = false, ttlSeconds = 300, idempotencyKey = Guid.NewGuid().ToString("N") });
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.False(device.RebootAnswered.Task.IsCompleted, "the device must not have been asked to reboot");
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task A_technicians_reboot_goes_from_sent_to_confirmed()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("esp32-lab", "Lab", "workshop");
        var key = gateway.AddKey("technician");
        await using var device = gateway.Device("esp32-lab", token, bootId: 7);
        await device.ConnectAsync();
        await device.SendReadingAsync(21.0, 40.0);
        // Like the firmware: answer first, restart a moment later, come back as the next boot.
        _ = device.RebootAnswered.Task.ContinueWith(async _ =>
        {
            await Task.Delay(300);
            await device.RebootAsync();
        }, TaskScheduler.Default);

        await using var session = await OpenAsync(gateway);
        var page = session.Page;
        await session.LoginAsync(key);
        await page.GetByTestId("device-card-esp32-lab").ClickAsync();

        await page.GetByTestId("rpc-reboot").ClickAsync();
        await Expect(page.GetByTestId("reboot-dialog")).ToBeVisibleAsync();
        await page.GetByTestId("rpc-reboot-confirm").ClickAsync();

        var status = page.GetByTestId("rpc-status").First;
        await Expect(status).ToHaveTextAsync("confirmed", new() { Timeout = 15_000 });
        var steps = await page.GetByTestId("rpc-call").First.Locator(".steps li").AllInnerTextsAsync();
        Assert.Contains(steps, s => s.StartsWith("rebooting", StringComparison.Ordinal));
        Assert.Equal(8, device.BootId);
        await Expect(page.GetByTestId("device-meta")).ToContainTextAsync("boot #8");
        await session.ScreenshotAsync("device-reboot-confirmed");

        await page.GetByTestId("nav-audit").ClickAsync();
        await Expect(page.GetByTestId("audit-rows")).ToContainTextAsync("reboot");
        await Expect(page.GetByTestId("audit-rows")).ToContainTextAsync("confirmed");
        await page.SetViewportSizeAsync(390, 844);
        await session.ScreenshotAsync("audit-phone");
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task The_history_chart_draws_the_points_of_the_range()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("esp32-office", "Office", "desk");
        var key = gateway.AddKey("technician");
        await using var device = gateway.Device("esp32-office", token);
        await device.ConnectAsync();
        device.StartHeartbeats();
        // 12 readings over the last hour, one every 4 minutes, and one 3 hours ago that only
        // the 24 h range may show.
        var now = DateTimeOffset.UtcNow;
        await device.SendReadingAsync(15.0, 70.0, now.AddHours(-3));
        for (var i = 11; i >= 0; i--)
        {
            await device.SendReadingAsync(20 + i * 0.3, 50 - i, now.AddMinutes(-4 * i - 1));
        }

        await using var session = await OpenAsync(gateway);
        var page = session.Page;
        await session.LoginAsync(key);
        await page.GotoAsync("/#/device/esp32-office");

        var temperature = page.GetByTestId("history-chart-temperature");
        await Expect(temperature).ToHaveAttributeAsync("data-points", "12");
        await Expect(temperature.Locator(".points circle")).ToHaveCountAsync(12);
        await Expect(page.GetByTestId("history-chart-humidity")).ToHaveAttributeAsync("data-points", "12");
        await Expect(temperature).ToContainTextAsync("max 23.3");
        await Expect(page.GetByTestId("live-chart-temperature")).ToHaveAttributeAsync("data-points", "4");

        // A live reading reaches the live chart through devices/{id}/readings.
        await device.SendReadingAsync(24.0, 45.0);
        await Expect(page.GetByTestId("live-chart-temperature")).ToHaveAttributeAsync("data-points", "5");
        await Expect(page.GetByTestId("device-view-temp")).ToHaveTextAsync("24.0");
        await session.ScreenshotAsync("device");

        await page.GetByTestId("range-24h").ClickAsync();
        await Expect(page.GetByTestId("history-note")).ToContainTextAsync("one-minute");
        await Expect(temperature).ToHaveAttributeAsync("data-points", "14");

        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("csv-download").ClickAsync());
        var csvPath = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".csv");
        await download.SaveAsAsync(csvPath);
        var lines = await File.ReadAllLinesAsync(csvPath);
        File.Delete(csvPath);
        Assert.Equal(1 + 14, lines.Count(l => l.Length > 0)); // header + one row per minute bucket
        Assert.StartsWith("bucket,count,", lines[0], StringComparison.Ordinal);

        await page.SetViewportSizeAsync(390, 844);
        await page.GetByTestId("range-1h").ClickAsync();
        await Expect(temperature).ToHaveAttributeAsync("data-points", "13");
        await session.ScreenshotAsync("device-phone");
        session.AssertNoErrors();
    }
}
