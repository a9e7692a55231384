using IotWs.Gateway.Connections;
using IotWs.Protocol;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Identity;

/// <summary>
/// Makes revocation reach live WebSocket sessions (and, through <see cref="IRevocableSessions"/>, the embedded MQTT broker's). Every <see cref="IdentityOptions.PollInterval"/> it reads
/// the identity change counter (one row: the CLI bumps it from its own process), rebuilds the cache when it
/// moved, and closes with 4401 every session whose credential no longer authenticates: a revoked or
/// re-tokened device, a revoked key, an ended or expired login session, or one made from a revoked key.
/// A change made by this process sweeps at once.
/// </summary>
internal sealed partial class IdentityWatch(IdentityCache cache, ConnectionRegistry registry, IEnumerable<IRevocableSessions> others, IOptions<IdentityOptions> options, TimeProvider time, ILogger<IdentityWatch> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        cache.Reloaded += Sweep;
        try
        {
            using var timer = new PeriodicTimer(options.Value.PollInterval, time);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    // A reload sweeps through Reloaded; without one, login sessions may still have expired.
                    if (!cache.RefreshIfChanged()) Sweep();
                }
                catch (Exception e) when (e is System.Data.Common.DbException or IOException or InvalidOperationException or TimeoutException)
                {
                    PollFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            cache.Reloaded -= Sweep;
        }
    }

    /// <summary>Closes every authenticated session (WebSocket or otherwise) whose credential is no longer current.</summary>
    internal void Sweep()
    {
        foreach (var session in registry.All)
        {
            if (session.Credential is not { } identity || session.IsClosing || cache.IsCurrent(identity)) continue;
            Revoked(logger, session.ClientId, identity.Principal, identity.Role);
            session.Close(CloseCodes.AuthFailed, identity.IsLoginSession ? "login session ended" : "credential revoked");
        }
        foreach (var holder in others) holder.CloseRevoked(cache);
    }

    [LoggerMessage(1101, LogLevel.Warning, "Client {ClientId} ({Role} {Principal}) closed with 4401: its credential was revoked or has expired")]
    private static partial void Revoked(ILogger logger, string clientId, string principal, string role);

    [LoggerMessage(1102, LogLevel.Warning, "Could not read the identity change counter; retrying")]
    private static partial void PollFailed(ILogger logger, Exception e);
}
