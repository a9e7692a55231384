using IotWs.Gateway.Configuration;
using IotWs.Protocol;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Identity;

/// <summary>
/// On a first start with no admin key, creates one in an owner-only file and says where it is. Gateways starting
/// together on one empty database race for the same name: the key name is taken by exactly one of them (an insert
/// that finds the name taken fails), and the others see the admin key it made and start without one of their own.
/// </summary>
internal sealed partial class FirstStartAdminKey(IdentityStore identities, IOptions<GatewayOptions> options, ILogger<FirstStartAdminKey> logger) : IHostedService
{
    public const string KeyFileName = "admin.key";
    // Each lost race means another gateway just made a key; a few rounds settle any number of nodes starting together.
    private const int MaxAttempts = 10;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            if (identities.HasActiveAdminKey()) return Task.CompletedTask;
            var name = "admin";
            for (var i = 2; identities.ListKeys().Any(k => k.Name == name); i++) name = $"admin-{i}";
            string key;
            try
            {
                key = identities.AddKey(name, Roles.Admin);
            }
            catch (IdentityException) when (identities.ListKeys().Any(k => k.Name == name))
            {
                // Another gateway on the same database inserted this name between our look and our insert.
                if (identities.HasActiveAdminKey())
                {
                    CreatedElsewhere(logger, name);
                    return Task.CompletedTask;
                }
                continue;
            }
            var path = Path.GetFullPath(Path.Combine(options.Value.DataDirectory, KeyFileName));
            WriteOwnerOnly(path, key + "\n");
            logger.LogWarning("No admin key existed: created key '{KeyName}' and wrote it to {KeyFile} (readable only by this user). Log in to the dashboard with it.", name, path);
            return Task.CompletedTask;
        }
        throw new InvalidOperationException($"Could not create a first admin key in {MaxAttempts} attempts: other gateways kept taking the name.");
    }

    [LoggerMessage(1410, LogLevel.Information, "Another gateway on the same database created the first admin key '{KeyName}' at the same time; its admin.key file is on that gateway", EventName = "AdminKeyCreatedElsewhere")]
    private static partial void CreatedElsewhere(ILogger logger, string keyName);

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
