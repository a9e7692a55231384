namespace IotWs.Gateway;

/// <summary>Builds the gateway web application; Program.cs and tests (real Kestrel on 127.0.0.1:0) share it.</summary>
public static class GatewayApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // Serve wwwroot from the app's own folder, whatever the working directory.
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.AddGatewayConfiguration(args);
        builder.Services.AddGateway();
        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapGateway();
        return app;
    }
}
