using System.Net;
using System.Text.Json;
using IotWs.Gateway.Api;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;

namespace IotWs.Gateway.Tests.Api;

/// <summary>Issue 15: the REST API described by an OpenAPI document, and a page to try it.</summary>
public sealed class ApiReferenceTests
{
    [Fact]
    public async Task Every_mapped_route_and_method_is_in_the_openapi_document()
    {
        await using var gateway = await TestGateway.StartAsync(null, "ApiReference:Enabled=true");
        using var document = JsonDocument.Parse(await gateway.Http().GetStringAsync(ApiReference.DocumentPath));
        var paths = document.RootElement.GetProperty("paths");

        var routes = ((IEndpointRouteBuilder)gateway.App).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .Select(e => (Path: OpenApiPath(e.RoutePattern.RawText!), Methods: e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]))
            // The document and the page that shows it describe the API; they are not part of it.
            .Where(r => !r.Path.StartsWith("/openapi/", StringComparison.Ordinal) && !r.Path.StartsWith(ApiReference.PagePath, StringComparison.Ordinal))
            .ToList();
        Assert.Contains(routes, r => r.Path == "/api/devices/{id}/readings");
        Assert.Contains(routes, r => r.Path == "/metrics");
        Assert.Contains(routes, r => r.Path == "/readyz");

        var missing = new List<string>();
        foreach (var (path, methods) in routes)
        {
            foreach (var method in methods)
            {
                if (!paths.TryGetProperty(path, out var item) || !item.TryGetProperty(method.ToLowerInvariant(), out _)) missing.Add($"{method} {path}");
            }
        }
        Assert.True(missing.Count == 0, "Not in the document: " + string.Join(", ", missing));

        // Each operation says what it answers, and the document says how to authenticate.
        foreach (var path in paths.EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                Assert.True(operation.Value.GetProperty("responses").EnumerateObject().Any(), $"{operation.Name} {path.Name} has no responses");
            }
        }
        Assert.Equal("bearer", document.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer").GetProperty("scheme").GetString());
    }

    [Fact]
    public async Task The_page_to_try_the_api_is_served_with_its_own_policy_when_enabled_and_not_otherwise()
    {
        await using (var gateway = await TestGateway.StartAsync(null, "ApiReference:Enabled=true"))
        {
            using var page = await gateway.Http().GetAsync(ApiReference.PagePath + "/");
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("openapi/v1.json", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            var csp = page.Headers.GetValues("Content-Security-Policy").Single();
            Assert.Equal(SecurityHeaders.ApiReferencePolicy, csp);
            Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
            // The page's script is served by the gateway itself, not from a CDN.
            using var script = await gateway.Http().GetAsync(ApiReference.PagePath + "/scalar.js");
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        }
        await using (var off = await TestGateway.StartAsync())
        {
            Assert.Equal(HttpStatusCode.NotFound, (await off.Http().GetAsync(ApiReference.DocumentPath)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await off.Http().GetAsync(ApiReference.PagePath + "/")).StatusCode);
        }
    }

    /// <summary>"api/devices/{id:int?}/" → "/api/devices/{id}", as OpenAPI writes a path.</summary>
    private static string OpenApiPath(string pattern)
    {
        var path = "/" + pattern.Trim('/');
        return System.Text.RegularExpressions.Regex.Replace(path, @"\{\*?([^}:?=]+)[^}]*\}", "{$1}");
    }
}
