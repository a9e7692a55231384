using System.Collections.Concurrent;

namespace IotWs.Gateway.Connections;

/// <summary>Live connections of this gateway process, by client id and by authenticated device.</summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, ClientSession> _clients = new();
    private readonly ConcurrentDictionary<string, ClientSession> _devices = new(StringComparer.Ordinal);
    private int _count;

    public int Count => Volatile.Read(ref _count);
    public IEnumerable<ClientSession> All => _clients.Values;

    /// <summary>Devices with a live connection here.</summary>
    public int DeviceCount => _devices.Count;

    /// <summary>The authenticated devices' connections.</summary>
    public IEnumerable<ClientSession> Devices => _devices.Values;

    /// <summary>Admits a connection unless the limit is reached.</summary>
    public bool TryAdd(ClientSession session, int limit)
    {
        if (Interlocked.Increment(ref _count) > limit)
        {
            Interlocked.Decrement(ref _count);
            return false;
        }
        _clients[session.ClientId] = session;
        return true;
    }

    public void Remove(ClientSession session)
    {
        if (_clients.TryRemove(session.ClientId, out _)) Interlocked.Decrement(ref _count);
        if (session.DeviceId is { } id) _devices.TryRemove(new KeyValuePair<string, ClientSession>(id, session));
    }

    /// <summary>Makes this session the device's connection and returns the one it replaces, if any.</summary>
    public ClientSession? BindDevice(string deviceId, ClientSession session)
    {
        ClientSession? previous = null;
        _devices.AddOrUpdate(deviceId, session, (_, old) =>
        {
            previous = ReferenceEquals(old, session) ? null : old;
            return session;
        });
        return previous;
    }

    public ClientSession? FindDevice(string deviceId) =>
        _devices.TryGetValue(deviceId, out var s) && !s.IsClosing ? s : null;

    public ClientSession? Find(string clientId) => _clients.TryGetValue(clientId, out var s) ? s : null;

    public bool IsDeviceConnected(string deviceId) => FindDevice(deviceId) is not null;
}
