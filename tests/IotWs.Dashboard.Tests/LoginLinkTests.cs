using System.Text.Json;
using IotWs.Dashboard.Tests.Infrastructure;
using IotWs.Gateway.Cli;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace IotWs.Dashboard.Tests;

/// <summary>Issue 15: a link from 'keys login-link' signs Chromium in with the key's role, once; logging out ends that session on the gateway.</summary>
[Collection(BrowserCollection.Name)]
public sealed class LoginLinkTests(Browser browser, ITestOutputHelper output)
{
    private static JsonElement Cli(DashboardGateway gateway, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.True(GatewayCli.Run([.. args, "--data-dir", gateway.DataDir], stdout, stderr) == 0, stderr.ToString());
        return JsonDocument.Parse(stdout.ToString()).RootElement;
    }

    [ChromiumFact]
    public async Task A_login_link_signs_the_browser_in_with_the_key_role_once_and_logout_revokes_the_session()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        Cli(gateway, "keys", "add", "tech-link", "--role", "technician");
        var url = Cli(gateway, "keys", "login-link", "tech-link", "--url", gateway.BaseUrl).GetProperty("url").GetString()!;
        await using var session = await PageSession.OpenAsync(browser, gateway.BaseUrl, output);
        session.Allow("status of 400"); // the second use of the link, logged by Chromium itself
        session.Allow("status of 401");
        var page = session.Page;

        await page.GotoAsync(url);

        await Expect(page.GetByTestId("who-name")).ToHaveTextAsync("tech-link");
        await Expect(page.GetByTestId("who-role")).ToHaveTextAsync("technician");
        Assert.DoesNotContain("iwl_", page.Url);
        var token = await page.EvaluateAsync<string>("sessionStorage.getItem('iotws.apiKey')");
        Assert.StartsWith("iws_", token);
        using var http = gateway.Http(token);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/api/me")).StatusCode);

        await page.GetByTestId("logout").ClickAsync();
        await Expect(page.GetByTestId("login-key")).ToBeVisibleAsync();
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while ((await http.GetAsync("/api/me")).StatusCode != System.Net.HttpStatusCode.Unauthorized && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync("/api/me")).StatusCode);

        // The same link again: refused, with the reason on the login form.
        await page.GotoAsync("about:blank");
        await page.GotoAsync(url);
        await Expect(page.GetByTestId("login-message")).ToContainTextAsync("used, expired or unknown");
        session.AssertNoErrors();
    }
}
