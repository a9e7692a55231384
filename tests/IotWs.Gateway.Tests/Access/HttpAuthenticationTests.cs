using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Access;

/// <summary>The bearer authentication handler's answers, and login links (issue 12 item 14, issue 15).</summary>
public sealed class HttpAuthenticationTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private static async Task<JsonElement> Problem(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("detail").GetString()));
        return body;
    }

    [Fact]
    public async Task A_missing_key_a_wrong_key_and_a_device_token_each_get_a_problem_that_says_which()
    {
        using var none = _gateway.Http();
        var missing = await none.GetAsync("/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal("An API key is required", (await Problem(missing)).GetProperty("title").GetString());

        using var wrong = _gateway.Http("iwk_not-a-key-anyone-was-given");
        var refused = await wrong.GetAsync("/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        var title = (await Problem(refused)).GetProperty("title").GetString()!;
        Assert.Contains("wrong", title);
        Assert.DoesNotContain("required", title);
        Assert.Contains("invalid_token", refused.Headers.WwwAuthenticate.ToString());

        using var device = _gateway.Http(_gateway.AddDevice("esp-http"));
        var forbidden = await device.GetAsync("/api/status");
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Contains("device", (await Problem(forbidden)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_login_link_from_the_cli_signs_in_once_with_the_key_role_and_logging_out_ends_the_session_and_its_socket()
    {
        _gateway.AddKey("technician", "tech-link");
        var (code, output, error) = await CliProcess.RunAsync(_gateway.DataDir, "keys", "login-link", "tech-link", "--url", _gateway.HttpBase.ToString());
        Assert.True(code == 0, error);
        var link = JsonDocument.Parse(output).RootElement;
        var url = link.GetProperty("url").GetString()!;
        Assert.StartsWith(_gateway.HttpBase.ToString().TrimEnd('/') + "/#/login/iwl_", url);
        var expires = link.GetProperty("expiresAt").GetDateTimeOffset();
        Assert.InRange(expires - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
        var oneTime = url[(url.LastIndexOf('/') + 1)..];

        using var anonymous = _gateway.Http();
        var redeemed = await anonymous.PostAsJsonAsync("/api/session", new { code = oneTime });
        Assert.Equal(HttpStatusCode.OK, redeemed.StatusCode);
        var session = JsonDocument.Parse(await redeemed.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("technician", session.GetProperty("role").GetString());
        var token = session.GetProperty("token").GetString()!;
        // Once only.
        var again = await anonymous.PostAsJsonAsync("/api/session", new { code = oneTime });
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        Assert.Contains("used, expired or unknown", (await Problem(again)).GetProperty("title").GetString());

        using var browser = _gateway.Http(token);
        var me = JsonDocument.Parse(await browser.GetStringAsync("/api/me")).RootElement;
        Assert.Equal("tech-link", me.GetProperty("name").GetString());
        Assert.Equal("technician", me.GetProperty("role").GetString());
        await using var socket = await _gateway.ConnectWithKeyAsync(token);

        Assert.Equal(HttpStatusCode.NoContent, (await browser.DeleteAsync("/api/session")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/api/me")).StatusCode);
        Assert.Equal(4401, await socket.WaitClosedAsync(TimeSpan.FromSeconds(5)));
        // A key is not a session: only 'keys revoke' ends it.
        using var key = _gateway.Http(_gateway.AddKey("viewer"));
        Assert.Equal(HttpStatusCode.BadRequest, (await key.DeleteAsync("/api/session")).StatusCode);
    }

    [Fact]
    public async Task Revoking_a_key_ends_the_sessions_made_from_it()
    {
        _gateway.AddKey("viewer", "viewer-link");
        var code = _gateway.Identities.CreateLoginCode("viewer-link", DateTimeOffset.UtcNow).Code;
        using var anonymous = _gateway.Http();
        var token = JsonDocument.Parse(await (await anonymous.PostAsJsonAsync("/api/session", new { code })).Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        using var browser = _gateway.Http(token);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/api/me")).StatusCode);

        _gateway.Identities.RevokeKey("viewer-link");

        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/api/me")).StatusCode);
    }
}
