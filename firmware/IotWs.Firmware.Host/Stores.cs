using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Host;

/// <summary>A store that lives as long as the process: what a board keeps across simulated reboots.</summary>
public sealed class InMemoryStore : IStore
{
    private readonly ConcurrentDictionary<string, string> _values = new();

    /// <inheritdoc/>
    public string? Get(string key) => _values.TryGetValue(key, out var v) ? v : null;

    /// <inheritdoc/>
    public void Set(string key, string value) => _values[key] = value;

    /// <inheritdoc/>
    public void Remove(string key) => _values.TryRemove(key, out _);
}

/// <summary>
/// A store in one small JSON file per device, rewritten atomically on every change (write to a
/// temporary file, then rename), like the device's flash file but survivable across simulator runs.
/// </summary>
public sealed class FileStore : IStore
{
    private readonly string _path;
    private readonly Dictionary<string, string> _values;
    private readonly Lock _lock = new();

    /// <summary>Opens (or starts) the file at path.</summary>
    public FileStore(string path)
    {
        _path = path;
        _values = File.Exists(path)
            ? JsonSerializer.Deserialize(File.ReadAllText(path), StoreJson.Default.DictionaryStringString) ?? []
            : [];
    }

    /// <summary>The file for a device under a state directory; the id is made safe as a file name.</summary>
    public static FileStore ForDevice(string directory, string deviceId)
    {
        Directory.CreateDirectory(directory);
        var invalid = Path.GetInvalidFileNameChars();
        var safe = new string([.. deviceId.Select(c => invalid.Contains(c) || c == '.' ? '_' : c)]);
        return new FileStore(Path.Combine(directory, safe + ".json"));
    }

    /// <inheritdoc/>
    public string? Get(string key)
    {
        lock (_lock) return _values.TryGetValue(key, out var v) ? v : null;
    }

    /// <inheritdoc/>
    public void Set(string key, string value)
    {
        lock (_lock)
        {
            _values[key] = value;
            Save();
        }
    }

    /// <inheritdoc/>
    public void Remove(string key)
    {
        lock (_lock)
        {
            if (_values.Remove(key)) Save();
        }
    }

    private void Save()
    {
        var temp = _path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(_values, StoreJson.Default.DictionaryStringString));
        File.Move(temp, _path, overwrite: true);
    }
}

/// <summary>The file store's one shape, compiled: no reflection in a trimmed gateway that hosts simulated boards.</summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class StoreJson : JsonSerializerContext;
