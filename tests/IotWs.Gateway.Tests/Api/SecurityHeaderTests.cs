using System.Text.RegularExpressions;
using IotWs.Gateway.Api;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Api;

/// <summary>Issue 12 item 10: a Content-Security-Policy that forbids framing, nosniff and no Referer, on every answer.</summary>
public sealed partial class SecurityHeaderTests
{
    [Fact]
    public async Task The_page_its_scripts_the_api_and_its_errors_all_carry_the_security_headers()
    {
        await using var gateway = await TestGateway.StartAsync();
        var viewer = gateway.Http(gateway.AddKey("viewer"));
        var anonymous = gateway.Http();
        var answers = new[]
        {
            await anonymous.GetAsync("/"),
            await anonymous.GetAsync("/app.js"),
            await anonymous.GetAsync("/js/live.js"),
            await anonymous.GetAsync("/app.css"),
            await viewer.GetAsync("/api/status"),
            await viewer.GetAsync("/api/devices"),
            await anonymous.GetAsync("/api/status"),
            await viewer.GetAsync("/api/devices/nope"),
            await viewer.GetAsync("/api/alerts?limit=abc"),
            await anonymous.GetAsync("/healthz"),
        };
        foreach (var answer in answers)
        {
            var what = answer.RequestMessage!.RequestUri!.PathAndQuery + " " + (int)answer.StatusCode;
            var csp = string.Join(";", answer.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
            Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
            Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
            Assert.True(answer.Headers.TryGetValues("X-Content-Type-Options", out var nosniff) && nosniff.Single() == "nosniff", what);
            Assert.True(answer.Headers.TryGetValues("Referrer-Policy", out var referrer) && referrer.Single() == "no-referrer", what);
        }
    }

    [GeneratedRegex(@"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", RegexOptions.IgnoreCase)]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"\beval\(|new Function\(|\.innerHTML\s*=|setAttribute\(\s*['""](style|on[a-z]+)['""]|https?://(?!www\.w3\.org/)", RegexOptions.IgnoreCase)]
    private static partial Regex CodeThePolicyBlocks();

    [Fact]
    public async Task The_dashboard_needs_nothing_the_policy_forbids()
    {
        // The policy allows the gateway's own files only: the page may hold no inline script, style or handler, and
        // the scripts may neither evaluate strings, write inline styles, nor load from another origin.
        await using var gateway = await TestGateway.StartAsync();
        var http = gateway.Http();
        var html = await http.GetStringAsync("/");
        Assert.DoesNotMatch(InlineCode(), html);
        var scripts = new Queue<string>(Regex.Matches(html, "src=\"([^\"]+\\.js)\"").Select(m => m.Groups[1].Value));
        var seen = new HashSet<string>();
        while (scripts.TryDequeue(out var script))
        {
            if (!seen.Add(script)) continue;
            var code = await http.GetStringAsync("/" + script);
            Assert.False(CodeThePolicyBlocks().IsMatch(code), $"{script}: {CodeThePolicyBlocks().Match(code).Value}");
            // Follow the module imports ("./js/x.js", "../dom.js") relative to this script.
            var folder = script.Contains('/') ? script[..(script.LastIndexOf('/') + 1)] : "";
            foreach (Match import in Regex.Matches(code, @"from\s+'(\.{1,2}/[^']+)'"))
            {
                scripts.Enqueue(new Uri(new Uri("http://x/" + folder), import.Groups[1].Value).AbsolutePath.TrimStart('/'));
            }
        }
        Assert.True(seen.Count >= 5, string.Join(", ", seen));
        Assert.DoesNotContain("unsafe", SecurityHeaders.ContentSecurityPolicy, StringComparison.Ordinal);
    }
}
