using Microsoft.Extensions.FileProviders;

namespace IotWs.Gateway.Dashboard;

/// <summary>Serves the web dashboard (the static files in wwwroot) at <c>GET /</c>.</summary>
public static class DashboardEndpoints
{
    private const string MappedKey = "iotws.dashboard.mapped";

    /// <summary>Adds index.html as the default document and serves the dashboard's files.</summary>
    public static WebApplication MapDashboard(this WebApplication app)
    {
        // Idempotent, so a host that wires the gateway and a test that adds the dashboard agree.
        if (!((IApplicationBuilder)app).Properties.TryAdd(MappedKey, true))
        {
            return app;
        }
        var files = FindDashboardFiles(app.Environment, app.Logger);
        // A WebSocket upgrade to "/" (the seed's ESP32 sketch connects there) must reach the
        // socket endpoint, not be rewritten to /index.html, whatever order the host maps in.
        app.UseWhen(context => !IsWebSocketUpgrade(context.Request), dashboard =>
        {
            dashboard.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
            dashboard.UseStaticFiles(new StaticFileOptions
            {
                FileProvider = files,
                // Revalidate on every load (ETag → 304), so a gateway update reaches every browser
                // at once instead of mixing cached and new modules.
                OnPrepareResponse = ctx => ctx.Context.Response.Headers.CacheControl = "no-cache",
            });
        });
        return app;
    }

    private static bool IsWebSocketUpgrade(HttpRequest request) =>
        HttpMethods.IsConnect(request.Method)
        || request.Headers.Upgrade.ToString().Contains("websocket", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The dashboard files embedded in the gateway's assembly, so any build or publish serves them from wherever it
    /// runs. In Development the project's wwwroot (through the web root) wins when it is there, so an edited file shows
    /// on reload without a rebuild.
    /// </summary>
    internal static IFileProvider FindDashboardFiles(IWebHostEnvironment environment, ILogger logger)
    {
        if (environment.IsDevelopment() && environment.WebRootFileProvider.GetFileInfo("index.html").Exists)
        {
            return environment.WebRootFileProvider;
        }
        var embedded = new EmbeddedFileProvider(typeof(DashboardEndpoints).Assembly, typeof(DashboardEndpoints).Assembly.GetName().Name + ".wwwroot");
        if (!embedded.GetFileInfo("index.html").Exists)
        {
            logger.LogWarning("The gateway was built without its dashboard files; GET / will answer 404");
        }
        return embedded;
    }
}
