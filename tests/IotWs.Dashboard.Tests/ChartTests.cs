using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using IotWs.Dashboard.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace IotWs.Dashboard.Tests;

/// <summary>The charts people expect: value and time under the pointer, drag to zoom, reset, sparklines, dark mode, 10,000 points.</summary>
[Collection(BrowserCollection.Name)]
public sealed class ChartTests(Browser browser, ITestOutputHelper output)
{
    [ChromiumFact]
    public async Task Hovering_shows_value_and_time_dragging_zooms_and_reset_shows_the_whole_range()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("esp32-study", "Study", "desk");
        var key = gateway.AddKey("viewer");
        await using var device = gateway.Device("esp32-study", token);
        await device.ConnectAsync();
        device.StartHeartbeats();
        // Twelve readings over the last hour, one every 5 minutes, the values easy to tell apart.
        var now = DateTimeOffset.UtcNow;
        for (var i = 11; i >= 0; i--) await device.SendReadingAsync(20 + i, 50, now.AddMinutes(-5 * i - 2));
        await using var session = await PageSession.OpenAsync(browser, gateway.BaseUrl, output);
        var page = session.Page;
        await session.LoginAsync(key);
        await page.GotoAsync("/#/device/esp32-study");

        var chart = page.GetByTestId("history-chart-temperature");
        await Expect(chart).ToHaveAttributeAsync("data-points", "12");
        await chart.ScrollIntoViewIfNeededAsync();
        var box = (await chart.Locator("svg").BoundingBoxAsync())!;

        // The newest reading (20.0 °C, 2 minutes ago) is near the right edge of the plot.
        await page.Mouse.MoveAsync(box.X + box.Width - 20, box.Y + box.Height / 2);
        var tip = chart.GetByTestId("chart-tip");
        await Expect(tip).ToBeVisibleAsync();
        var newest = now.AddMinutes(-2).ToString("HH:mm", CultureInfo.InvariantCulture);
        await Expect(tip).ToContainTextAsync("20.0 °C");
        await Expect(tip).ToContainTextAsync(newest);
        await session.ScreenshotAsync("device-hover");
        await page.Mouse.MoveAsync(box.X + box.Width / 2, box.Y - 40);
        await Expect(tip).ToBeHiddenAsync();

        // Drag across the left half of the plot (about the older half hour).
        var left = box.X + 44 + 2;
        var mid = box.X + box.Width / 2;
        await page.Mouse.MoveAsync(left, box.Y + 60);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync((left + mid) / 2, box.Y + 60, new() { Steps = 4 });
        await page.Mouse.MoveAsync(mid, box.Y + 60, new() { Steps = 4 });
        await page.Mouse.UpAsync();
        await Expect(chart).ToHaveAttributeAsync("data-zoomed", "true");
        var points = int.Parse(await chart.GetAttributeAsync("data-points") ?? "0", CultureInfo.InvariantCulture);
        Assert.InRange(points, 4, 8);
        await Expect(chart).ToContainTextAsync("(zoomed)");
        Assert.DoesNotContain("20.0", await chart.Locator("figcaption").TextContentAsync() ?? "", StringComparison.Ordinal);

        await chart.GetByTestId("chart-reset").ClickAsync();
        await Expect(chart).ToHaveAttributeAsync("data-zoomed", "false");
        await Expect(chart).ToHaveAttributeAsync("data-points", "12");
        await Expect(chart.GetByTestId("chart-reset")).ToBeHiddenAsync();
        session.AssertNoErrors();
    }

    [ChromiumFact]
    public async Task Each_card_has_a_24_hour_sparkline_and_the_page_follows_a_dark_colour_scheme()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        var token = gateway.AddDevice("esp32-kitchen", "Kitchen", "ground floor");
        var atticToken = gateway.AddDevice("esp32-attic", "Attic", "roof");
        var key = gateway.AddKey("technician");
        await using var device = gateway.Device("esp32-kitchen", token);
        await device.ConnectAsync();
        device.StartHeartbeats();
        var now = DateTimeOffset.UtcNow;
        // A reading every 30 minutes over the last day: a warm afternoon and a cool night.
        for (var i = 47; i >= 0; i--) await device.SendReadingAsync(20 + 3 * Math.Sin(i / 8.0), 50, now.AddMinutes(-30 * i - 1));
        // The one-minute rollups the sparkline reads are written a moment after the readings.
        using (var http = gateway.Http(key))
        {
            var query = $"/api/devices/esp32-kitchen/readings?from={Uri.EscapeDataString(now.AddDays(-1).ToString("O"))}&resolution=1m&format=json";
            for (var tries = 0; JsonDocument.Parse(await http.GetStringAsync(query)).RootElement.GetArrayLength() < 48 && tries < 100; tries++) await Task.Delay(100);
        }
        var attic = gateway.Device("esp32-attic", atticToken);
        await attic.ConnectAsync();
        await attic.SendReadingAsync(12.5, 70);
        await attic.DisposeAsync(); // offline from now on: its card is greyed

        await using var session = await PageSession.OpenAsync(browser, gateway.BaseUrl, output, colorScheme: ColorScheme.Dark);
        var page = session.Page;
        await session.LoginAsync(key);

        var spark = page.GetByTestId("device-spark-esp32-kitchen");
        await Expect(spark).ToHaveAttributeAsync("data-points", "48");
        await Expect(spark.Locator("path.spark-line")).ToHaveCountAsync(1);
        Assert.StartsWith("Last 24 hours: 17.", await spark.GetAttributeAsync("title"), StringComparison.Ordinal);
        await Expect(page.GetByTestId("device-spark-esp32-attic")).ToHaveAttributeAsync("data-points", "1");

        // Dark: a dark page and panels, light text.
        var background = await page.EvaluateAsync<string>("getComputedStyle(document.documentElement).backgroundColor");
        var card = await page.GetByTestId("device-card-esp32-kitchen").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        var text = await page.GetByTestId("device-card-esp32-kitchen").EvaluateAsync<string>("e => getComputedStyle(e).color");
        Assert.Equal("rgb(11, 17, 32)", background);
        Assert.Equal("rgb(17, 24, 39)", card);
        Assert.Equal("rgb(229, 231, 235)", text);
        await session.ScreenshotAsync("fleet-dark");

        await page.GetByTestId("device-card-esp32-kitchen").ClickAsync();
        await page.GetByTestId("range-24h").ClickAsync();
        var chart = page.GetByTestId("history-chart-temperature");
        await Expect(chart).ToHaveAttributeAsync("data-points", "48");
        Assert.Equal("#60a5fa", await chart.Locator("canvas.chart-canvas").GetAttributeAsync("data-stroke"));
        await session.ScreenshotAsync("device-dark");
        await page.SetViewportSizeAsync(390, 844);
        await session.ScreenshotAsync("device-dark-phone");
        session.AssertNoErrors();
    }

    /// <summary>
    /// Ten thousand points drawn, hovered and zoomed in Chromium. Correctness is asserted; the
    /// frame times are written to the test output, not judged
    /// here: timings do not belong in a test that must pass on any machine.
    /// </summary>
    [ChromiumFact]
    public async Task Ten_thousand_points_are_drawn_hovered_and_zoomed_with_their_frame_times_reported()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        await using var session = await PageSession.OpenAsync(browser, gateway.BaseUrl, output);
        var page = session.Page;
        await page.GotoAsync("/");

        var result = await page.EvaluateAsync<JsonElement>("""
            async () => {
              const { drawChart } = await import('/js/chart.js');
              const figure = document.createElement('figure');
              figure.className = 'chart';
              figure.style.width = '1200px';
              document.body.append(figure);
              const to = Date.UTC(2026, 11, 2, 12);
              const from = to - 7 * 24 * 3_600_000;
              const points = Array.from({ length: 10_000 }, (_, i) => {
                const t = from + i * (to - from) / 9_999;
                const v = 21 + 3 * Math.sin(i / 300) + Math.sin(i * 7.1);
                return { t, v, min: v - 0.4, max: v + 0.4 };
              });
              const frame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
              const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
              const max = (xs) => Math.max(...xs);

              // First draw: from the call to the next painted frame.
              await frame();
              let t0 = performance.now();
              drawChart(figure, { title: 'Temperature', unit: '°C', from, to, points });
              const drawMs = (await frame()) - t0;

              // Redraws (new data, resize): the work of drawChart itself.
              const redraw = [];
              for (let i = 0; i < 20; i++) {
                t0 = performance.now();
                drawChart(figure, { title: 'Temperature', unit: '°C', from, to, points });
                redraw.push(performance.now() - t0);
              }

              // Hovering across the chart: one pointer move per frame, frame intervals measured.
              const svg = figure.querySelector('svg');
              const rect = svg.getBoundingClientRect();
              const hover = [];
              let last = await frame();
              for (let i = 0; i < 60; i++) {
                svg.dispatchEvent(new PointerEvent('pointermove', { clientX: rect.left + 50 + i * 18, clientY: rect.top + 80, bubbles: true }));
                const now = await frame();
                hover.push(now - last);
                last = now;
              }
              const tip = figure.querySelector('[data-testid=chart-tip]').textContent;

              // Drag to zoom and reset, each to its painted frame.
              const zoom = [];
              for (let i = 0; i < 10; i++) {
                const x0 = rect.left + 60 + i * 40;
                t0 = performance.now();
                svg.dispatchEvent(new PointerEvent('pointerdown', { clientX: x0, clientY: rect.top + 80, button: 0, pointerId: 1, bubbles: true }));
                svg.dispatchEvent(new PointerEvent('pointermove', { clientX: x0 + 300, clientY: rect.top + 80, pointerId: 1, bubbles: true }));
                svg.dispatchEvent(new PointerEvent('pointerup', { clientX: x0 + 300, clientY: rect.top + 80, button: 0, pointerId: 1, bubbles: true }));
                zoom.push((await frame()) - t0);
                figure.querySelector('[data-testid=chart-reset]').click();
              }
              const zoomedPoints = (() => {
                svg.dispatchEvent(new PointerEvent('pointerdown', { clientX: rect.left + 100, clientY: rect.top + 80, button: 0, pointerId: 1, bubbles: true }));
                svg.dispatchEvent(new PointerEvent('pointerup', { clientX: rect.left + 400, clientY: rect.top + 80, button: 0, pointerId: 1, bubbles: true }));
                return Number(figure.dataset.points);
              })();
              const stroke = figure.querySelector('canvas').dataset.stroke;
              figure.querySelector('[data-testid=chart-reset]').click();
              const allPoints = Number(figure.dataset.points);
              figure.remove();
              return { drawMs, redrawMedian: median(redraw), redrawMax: max(redraw), hoverMedian: median(hover), hoverMax: max(hover),
                zoomMedian: median(zoom), zoomMax: max(zoom), tip, zoomedPoints, allPoints, stroke };
            }
            """);

        output.WriteLine($"10,000 points in Chromium: {result}");
        Assert.Equal(10_000, result.GetProperty("allPoints").GetInt32());
        Assert.InRange(result.GetProperty("zoomedPoints").GetInt32(), 1, 9_999);
        Assert.Matches(new Regex(@"^\d+\.\d °C \(\d+\.\d–\d+\.\d\) · "), result.GetProperty("tip").GetString());
        session.AssertNoErrors();
    }
}
