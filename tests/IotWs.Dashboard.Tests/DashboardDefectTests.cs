using System.Text.RegularExpressions;
using IotWs.Dashboard.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace IotWs.Dashboard.Tests;

/// <summary>The page defects of issue 15, each shown in Chromium against the real gateway.</summary>
[Collection(BrowserCollection.Name)]
public sealed class DashboardDefectTests(Browser browser, ITestOutputHelper output)
{
    [ChromiumFact]
    public async Task A_device_list_made_before_the_device_came_online_does_not_turn_it_back_to_offline()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("esp32-porch", "Porch", "front");
        var key = gateway.AddKey("viewer");
        await using var session = await PageSession.OpenAsync(browser, gateway.BaseUrl, output);
        var page = session.Page;
        // The page fetches the device list at login and again once its live subscriptions are confirmed. The second
        // fetch is answered by the gateway at once (the device is offline then) but reaches the page only after the
        // device came online: what a busy gateway or network does to it.
        var listsMade = 0;
        var staleListMade = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var deliver = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await page.RouteAsync(new Regex("/api/devices$"), async route =>
        {
            if (Interlocked.Increment(ref listsMade) == 1)
            {
                await route.ContinueAsync();
                return;
            }
            var response = await route.FetchAsync();
            staleListMade.TrySetResult();
            await deliver.Task;
            await route.FulfillAsync(new() { Response = response });
            delivered.TrySetResult();
        });
        await session.LoginAsync(key);
        var status = page.GetByTestId("device-status-esp32-porch");
        await Expect(status).ToBeVisibleAsync();
        await staleListMade.Task.WaitAsync(TimeSpan.FromSeconds(15));

        await using var device = gateway.Device("esp32-porch", token);
        await device.ConnectAsync();
        device.StartHeartbeats();
        await Expect(status).ToContainTextAsync("online");
        deliver.SetResult();
        await delivered.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await page.WaitForTimeoutAsync(500); // the page has applied the late list
        await Expect(status).ToContainTextAsync("online", new() { Timeout = 100 });
        await Expect(page.GetByTestId("device-card-esp32-porch")).Not.ToHaveClassAsync(new Regex("status-offline"), new() { Timeout = 100 });
    }

    [ChromiumFact]
    public async Task An_unknown_device_id_shows_nothing_of_the_device_shown_before()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("sim-003", "Sim 3", "lab");
        var key = gateway.AddKey("technician");
        await using var device = gateway.Device("sim-003", token);
        await device.ConnectAsync();
        device.StartHeartbeats();
        await device.SendReadingAsync(24.0, 51.0);
        await using var session = await PageSession.OpenAsync(browser, gateway.BaseUrl, output);
        session.Allow("404"); // Chromium logs the refused /api/devices/nope itself
        var page = session.Page;
        await session.LoginAsync(key);

        await page.GotoAsync("/#/device/sim-003");
        await Expect(page.GetByTestId("device-view-temp")).ToHaveTextAsync("24.0");
        await Expect(page.GetByTestId("device-view-status")).ToContainTextAsync("online");
        await Expect(page.GetByTestId("device-view-seen")).ToHaveTextAsync(new Regex(@"s ago$"));
        await Expect(page.GetByTestId("live-chart-temperature")).ToHaveAttributeAsync("data-points", "1");

        await page.GotoAsync("/#/device/nope");
        await Expect(page.GetByTestId("device-meta")).ToHaveTextAsync("This device is not known to the gateway.");
        await Expect(page.GetByTestId("device-title")).ToHaveTextAsync("nope");
        await Expect(page.GetByTestId("device-view-status")).ToContainTextAsync("unknown");
        await Expect(page.GetByTestId("device-view-body")).ToBeHiddenAsync();
        // Not merely hidden: nothing of sim-003 is left in the view at all.
        var view = await page.GetByTestId("device-view").TextContentAsync() ?? "";
        Assert.DoesNotContain("24.0", view, StringComparison.Ordinal);
        Assert.DoesNotContain("51.0", view, StringComparison.Ordinal);
        Assert.DoesNotContain("Sensor OK", view, StringComparison.Ordinal);
        Assert.DoesNotContain("s ago", view, StringComparison.Ordinal);
        Assert.DoesNotContain("online", view, StringComparison.Ordinal);
        await Expect(page.GetByTestId("live-chart-temperature")).ToHaveAttributeAsync("data-points", "0");
        await Expect(page.GetByTestId("rpc-panel")).ToHaveCountAsync(0);

        // And back: the known device is shown whole again.
        await page.GotoAsync("/#/device/sim-003");
        await Expect(page.GetByTestId("device-view-body")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("device-view-temp")).ToHaveTextAsync("24.0");
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task A_command_to_an_offline_device_without_keep_says_only_that_it_was_not_sent()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        gateway.AddDevice("esp32-porch", "Porch", null);
        var key = gateway.AddKey("technician");
        await using var session = await PageSession.OpenAsync(browser, gateway.BaseUrl, output);
        var page = session.Page;
        await session.LoginAsync(key);
        await page.GotoAsync("/#/device/esp32-porch");

        await page.GetByTestId("rpc-ping").ClickAsync();

        var call = page.GetByTestId("rpc-call").First;
        await Expect(call.GetByTestId("rpc-status")).ToHaveTextAsync("failed");
        await Expect(call.GetByTestId("rpc-meaning")).ToHaveTextAsync(" — not sent: the device is not connected");
        var text = await call.TextContentAsync() ?? "";
        Assert.DoesNotContain("answered", text, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(text, "not connected"));
        await Expect(call.GetByTestId("rpc-error")).ToContainTextAsync("tick “keep the command”");
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task Sensor_failures_since_boot_do_not_flag_a_card_only_a_high_rate_in_the_last_hour_does()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("esp32-den", "Den", null);
        var key = gateway.AddKey("viewer");
        await using var device = gateway.Device("esp32-den", token);
        await device.ConnectAsync();
        // 40 failed reads since boot, long before the gateway heard of them.
        await device.SendHeartbeatAsync(40);
        for (var i = 0; i < 20; i++) await device.SendReadingAsync(21 + i * 0.01, 45);
        await device.SendHeartbeatAsync(40);
        await using var session = await PageSession.OpenAsync(browser, gateway.BaseUrl, output);
        var page = session.Page;
        await session.LoginAsync(key);

        var health = page.GetByTestId("device-health-esp32-den");
        await Expect(health).ToContainTextAsync("Sensor OK");
        Assert.DoesNotContain("40", await health.TextContentAsync() ?? "", StringComparison.Ordinal);
        Assert.Contains("the last hour", await health.Locator("[title]").First.GetAttributeAsync("title") ?? "", StringComparison.Ordinal);

        // 6 failures against 20 readings within the hour: flagged, and the page says over which window.
        await device.SendHeartbeatAsync(46);
        await page.ReloadAsync();
        await Expect(health).ToContainTextAsync("⚠ Sensor: 6 of 26 reads failed in the last hour");
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task A_time_label_at_the_right_edge_stays_whole_and_one_average_is_singular()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("esp32-loft", "Loft", null);
        var key = gateway.AddKey("viewer");
        await using var device = gateway.Device("esp32-loft", token);
        await device.ConnectAsync();
        await device.SendReadingAsync(19.5, 55);
        // en-US: 12-hour labels ("05:50 AM") are the widest.
        await using var session = await PageSession.OpenAsync(browser, gateway.BaseUrl, output, 390, 844, locale: "en-US");
        var page = session.Page;
        await session.LoginAsync(key);
        await page.GotoAsync("/#/device/esp32-loft");

        await page.GetByTestId("range-24h").ClickAsync();
        await Expect(page.GetByTestId("history-note")).ToHaveTextAsync(new Regex("^1 one-minute average;"));

        // A chart whose axis ends exactly on a tick: its label is the one that used to be cut.
        var overflow = await page.EvaluateAsync<string[]>("""
            async () => {
              const { drawChart } = await import('/js/chart.js');
              const figure = document.createElement('figure');
              figure.className = 'chart';
              figure.style.width = '320px';
              document.querySelector('main').append(figure);
              const to = Date.UTC(2026, 11, 2, 5, 50);
              const from = to - 15 * 60_000;
              drawChart(figure, { title: 'T', unit: '°C', from, to, points: [{ t: from, v: 20 }, { t: to, v: 21 }] });
              const svg = figure.querySelector('svg');
              const width = svg.viewBox.baseVal.width;
              const labels = [...svg.querySelectorAll('text.time')];
              const cut = labels.filter((t) => { const b = t.getBBox(); return b.x < 0 || b.x + b.width > width; })
                .map((t) => t.textContent);
              figure.remove();
              return labels.length ? cut : ['no time labels'];
            }
            """);
        Assert.Empty(overflow);
        session.AssertNoErrors();
    }
}
