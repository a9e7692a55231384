using System.Net;
using System.Net.WebSockets;
using System.Text;
using IotWs.Dashboard.Tests.Infrastructure;

namespace IotWs.Dashboard.Tests;

/// <summary>How the gateway serves the dashboard, checked without a browser.</summary>
public sealed class DashboardHostingTests
{
    [Fact]
    public async Task The_dashboard_is_served_at_the_root_with_its_modules_and_no_stale_cache()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(gateway.BaseUrl) };

        using var page = await http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-cache", page.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<script type=\"module\" src=\"app.js\"></script>", html, StringComparison.Ordinal);

        foreach (var module in new[] { "app.js", "js/chart.js", "js/live.js", "js/views/device.js" })
        {
            using var js = await http.GetAsync(module);
            Assert.Equal(HttpStatusCode.OK, js.StatusCode);
            Assert.Equal("text/javascript", js.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task A_WebSocket_to_the_root_still_reaches_the_gateway_and_not_the_page()
    {
        await using var gateway = await DashboardGateway.StartAsync();
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(gateway.BaseUrl.Replace("http://", "ws://", StringComparison.Ordinal) + "/"), CancellationToken.None);

        var buffer = new byte[8192];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = await socket.ReceiveAsync(buffer, timeout.Token);

        Assert.Contains("\"type\":\"welcome\"", Encoding.UTF8.GetString(buffer, 0, received.Count), StringComparison.Ordinal);
        socket.Abort();
    }
}
