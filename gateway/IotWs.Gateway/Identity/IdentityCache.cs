using System.Collections.Frozen;
using System.Security.Cryptography;

namespace IotWs.Gateway.Identity;

/// <summary>
/// Every active credential in memory, so authenticating an HTTP request or a WebSocket costs a hash and a
/// dictionary look-up, never a database read. The cache is rebuilt when the identity change counter moves:
/// at once after a change by this process (<see cref="IdentityStore.Changed"/>), within
/// <see cref="IdentityOptions.PollInterval"/> for a change by another process (the CLI), and on a miss
/// (one single-row read) so that a device or key added a moment ago by the CLI works on its first try. Misses read
/// the counter at most once per <see cref="MissRefreshInterval"/>, so a flood of wrong keys costs a few reads a
/// second, not one each; revocation does not depend on misses (IdentityWatch polls), so this does not delay it.
/// </summary>
public sealed class IdentityCache
{
    private readonly IdentityStore _store;
    private readonly TimeProvider _time;
    private readonly Lock _reloading = new();
    private Snapshot _snapshot;
    // TimeProvider timestamp of the last counter read a miss made; NotYet before the first.
    private long _lastMissRead = NotYet;
    private readonly Lock _missGate = new();
    private const long NotYet = long.MinValue;

    /// <summary>
    /// Least time between two counter reads made because a credential was not in the cache. A credential added by the
    /// CLI within this time after another miss is found by the next miss after it, or by the next poll.
    /// </summary>
    public static readonly TimeSpan MissRefreshInterval = TimeSpan.FromMilliseconds(100);

    private sealed record Snapshot(long Version, FrozenDictionary<string, Identity> ByCredential);

    public IdentityCache(IdentityStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
        _snapshot = Load();
        store.Changed += () => Reload();
    }

    /// <summary>Raised after the cache was rebuilt (whatever triggered it).</summary>
    public event Action? Reloaded;

    /// <summary>The change counter value the cached credentials belong to.</summary>
    public long Version => Volatile.Read(ref _snapshot).Version;

    /// <summary>Resolves a device token, an API key or a login session; null when it is none of them, revoked or expired.</summary>
    public Identity? Authenticate(string? secret)
    {
        if (string.IsNullOrEmpty(secret) || secret.Length > 200) return null;
        var hash = Secrets.Hash(secret);
        if (Find(hash) is { } known) return known;
        // Looked up again whatever the refresh says: a miss that waited on another miss's read sees what it loaded.
        RefreshOnMiss();
        return Find(hash);
    }

    /// <summary>True while the credential an identity was proven with still authenticates as the same role and principal.</summary>
    public bool IsCurrent(Identity identity) =>
        Volatile.Read(ref _snapshot).ByCredential.TryGetValue(identity.Credential, out var now)
        && now.Role == identity.Role && now.Principal == identity.Principal && !IsExpired(now);

    /// <summary>Reads the change counter (one row) and rebuilds the cache when it moved; true when it did.</summary>
    public bool RefreshIfChanged()
    {
        if (_store.Version() == Version) return false;
        Reload();
        return true;
    }

    /// <summary>
    /// <see cref="RefreshIfChanged"/> for a miss, unless a miss already read the counter within
    /// <see cref="MissRefreshInterval"/>: then the cache is taken as current. A miss that arrives during a read waits for it.
    /// </summary>
    private bool RefreshOnMiss()
    {
        // Misses take turns: one that arrives while another reads the counter waits for that read (two clients whose
        // keys the CLI has just added, connecting at once, are both let in), then finds it recent and reads nothing.
        lock (_missGate)
        {
            var now = _time.GetTimestamp();
            if (_lastMissRead != NotYet && _time.GetElapsedTime(_lastMissRead, now) < MissRefreshInterval) return false;
            _lastMissRead = now;
            return RefreshIfChanged();
        }
    }

    /// <summary>Rebuilds the cache from the database.</summary>
    public void Reload()
    {
        lock (_reloading)
        {
            Volatile.Write(ref _snapshot, Load());
        }
        Reloaded?.Invoke();
    }

    private Identity? Find(byte[] hash)
    {
        if (!Volatile.Read(ref _snapshot).ByCredential.TryGetValue(Convert.ToBase64String(hash), out var identity)) return null;
        // The look-up is by hash; the stored hash is still compared in constant time, as for the database look-up it replaces.
        if (!CryptographicOperations.FixedTimeEquals(hash, Convert.FromBase64String(identity.Credential))) return null;
        return IsExpired(identity) ? null : identity;
    }

    private bool IsExpired(Identity identity) => identity.ExpiresAt is { } end && end <= _time.GetUtcNow();

    private Snapshot Load()
    {
        var (version, identities) = _store.LoadActive(_time.GetUtcNow());
        return new Snapshot(version, identities.ToFrozenDictionary(i => i.Credential, StringComparer.Ordinal));
    }
}
