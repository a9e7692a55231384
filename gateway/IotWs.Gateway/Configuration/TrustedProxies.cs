using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using IPNetwork = System.Net.IPNetwork;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Configuration;

/// <summary>
/// Behind haproxy or nginx the socket's peer is the proxy: with Gateway:TrustedProxies set, ASP.NET Core's
/// forwarded-headers middleware takes the client's address (and scheme) from X-Forwarded-For / -Proto, but only from
/// those proxies. Nothing is read when the list is empty: the framework's default would trust loopback.
/// </summary>
internal static class TrustedProxies
{
    public static bool TryParse(string text, out IPNetwork network)
    {
        text = text.Trim();
        if (IPAddress.TryParse(text, out var address))
        {
            network = new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }
        return IPNetwork.TryParse(text, out network);
    }

    public static IServiceCollection AddTrustedProxies(this IServiceCollection services)
    {
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<GatewayOptions>>((forwarded, gateway) =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var proxy in gateway.Value.TrustedProxies)
            {
                if (TryParse(proxy, out var network)) forwarded.KnownIPNetworks.Add(network);
            }
        });
        return services;
    }

    /// <summary>First in the pipeline, so logs, sessions and the HTTPS scheme all see the client, not the proxy.</summary>
    public static WebApplication UseTrustedProxies(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.TrustedProxies.Length > 0) app.UseForwardedHeaders();
        return app;
    }
}
