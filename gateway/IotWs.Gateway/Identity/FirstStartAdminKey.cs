using IotWs.Gateway.Configuration;
using IotWs.Protocol;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Identity;

/// <summary>On a first start with no admin key, creates one in an owner-only file and says where it is.</summary>
internal sealed class FirstStartAdminKey(IdentityStore identities, IOptions<GatewayOptions> options, ILogger<FirstStartAdminKey> logger) : IHostedService
{
    public const string KeyFileName = "admin.key";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (identities.HasActiveAdminKey()) return Task.CompletedTask;
        var path = Path.GetFullPath(Path.Combine(options.Value.DataDirectory, KeyFileName));
        var name = "admin";
        for (var i = 2; identities.ListKeys().Any(k => k.Name == name); i++) name = $"admin-{i}";
        var key = identities.AddKey(name, Roles.Admin);
        WriteOwnerOnly(path, key + "\n");
        logger.LogWarning("No admin key existed: created key '{KeyName}' and wrote it to {KeyFile} (readable only by this user). Log in to the dashboard with it.", name, path);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    internal static void WriteOwnerOnly(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, fileOptions);
        using var writer = new StreamWriter(stream);
        writer.Write(content);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}

/// <summary>Logs where the dashboard is once Kestrel listens.</summary>
internal sealed class DashboardAddressLog(IServer server, IHostApplicationLifetime lifetime, IOptions<GatewayOptions> options, ILogger<DashboardAddressLog> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses ?? [];
            foreach (var a in addresses)
            {
                logger.LogInformation("Dashboard: {Url}/  WebSocket: {Ws}/ws  Data: {DataDir}", a.Replace("0.0.0.0", "localhost"), a.Replace("http", "ws"), Path.GetFullPath(options.Value.DataDirectory));
            }
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
