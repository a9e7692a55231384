using IotWs.Gateway.Api;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Tls;

namespace IotWs.Gateway;

/// <summary>Builds the gateway web application; Program.cs and tests (real Kestrel on 127.0.0.1:0) share it.</summary>
public static class GatewayApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // Serve wwwroot from the app's own folder, whatever the working directory. The data directory does not
            // follow the content root: a relative Gateway:DataDirectory is relative to the current directory.
            ContentRootPath = AppContext.BaseDirectory,
        });
        // From a build output (dotnet run, dotnet build) the dashboard files are found through the static web
        // assets manifest, whatever the environment; a published gateway has them in wwwroot and no manifest.
        if (File.Exists(Path.Combine(AppContext.BaseDirectory, builder.Environment.ApplicationName + ".staticwebassets.runtime.json")))
        {
            builder.WebHost.UseStaticWebAssets();
        }
        builder.AddGatewayConfiguration(args);
        // A start that cannot succeed (port in use, …) is reported by the serve command in one line; the host's own
        // "Hosting failed to start" error would repeat it with a 40-line stack trace. Critical entries (a background
        // service that stops the host) still show.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        builder.Services.AddGateway();
        builder.AddGatewayTls();
        // One gateway per data directory; the container releases the lock when the app is disposed.
        builder.Services.AddSingleton(sp => DataDirectoryLock.Acquire(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<Configuration.GatewayOptions>>().Value.DataDirectory));
        configure?.Invoke(builder);
        builder.AddApiReferenceDocument();
        var app = builder.Build();
        try
        {
            // Before anything opens the database (mapping endpoints builds their services).
            app.Services.GetRequiredService<DataDirectoryLock>();
        }
        catch
        {
            ((IDisposable)app).Dispose();
            throw;
        }
        app.MapGateway();
        return app;
    }
}
