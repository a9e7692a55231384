using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace IotWs.Dashboard.Tests.Stub;

[Collection(BrowserCollection.Name)]
public sealed class StubDashboardTests(Browser browser, ITestOutputHelper output)
{
    [ChromiumFact]
    public async Task Stub_pages_render_without_errors()
    {
        await using var stub = await StubGateway.StartAsync();
        await using var session = await PageSession.OpenAsync(browser, stub.BaseUrl, output);
        var page = session.Page;
        await session.LoginAsync("tech-key");
        await Expect(page.GetByTestId("device-card-esp32-bedroom")).ToBeVisibleAsync();
        await stub.PublishAsync("sensor_updates", new JsonObject { ["deviceId"] = "esp32-bedroom", ["temperature"] = 22.25, ["humidity"] = 47.0, ["timestamp"] = DateTime.UtcNow.ToString("O"), ["insertId"] = 101 });
        await Expect(page.GetByTestId("device-temp-esp32-bedroom")).ToHaveTextAsync("22.3");
        await session.ScreenshotAsync("stub-fleet");
        await page.GetByTestId("device-card-esp32-bedroom").ClickAsync();
        await Expect(page.GetByTestId("history-chart-temperature")).ToHaveAttributeAsync("data-points", new System.Text.RegularExpressions.Regex("^[1-9]"));
        await session.ScreenshotAsync("stub-device");
        await page.GetByTestId("range-24h").ClickAsync();
        await Expect(page.GetByTestId("history-note")).ToContainTextAsync("one-minute");
        await page.GetByTestId("rpc-reboot").ClickAsync();
        await page.GetByTestId("rpc-reboot-confirm").ClickAsync();
        await Expect(page.GetByTestId("rpc-status").First).ToHaveTextAsync("confirmed", new() { Timeout = 8000 });
        await session.ScreenshotAsync("stub-device-24h-rpc");
        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync("/#/");
        await Expect(page.GetByTestId("device-card-esp32-bedroom")).ToBeVisibleAsync();
        await session.ScreenshotAsync("stub-fleet-phone");
        await page.GotoAsync("/#/alerts");
        await Expect(page.GetByTestId("alerts-list")).ToContainTextAsync("Cellar humidity");
        await session.ScreenshotAsync("stub-alerts-phone");
        await page.GotoAsync("/#/audit");
        await Expect(page.GetByTestId("audit-rows")).ToContainTextAsync("reboot");
        await session.ScreenshotAsync("stub-audit-phone");
        session.AssertNoErrors();
    }
}
