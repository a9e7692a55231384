using System.Text.Json;
using IotWs.Gateway.Cli;

namespace IotWs.LoadTest;

/// <summary>A temporary data directory with devices and a viewer key, made through the gateway's own CLI verbs.</summary>
internal sealed class Provisioning : IDisposable
{
    private Provisioning(string dataDir, IReadOnlyList<(string Id, string Token)> devices, string viewerKey)
    {
        DataDir = dataDir;
        Devices = devices;
        ViewerKey = viewerKey;
    }

    public string DataDir { get; }
    public IReadOnlyList<(string Id, string Token)> Devices { get; }
    public string ViewerKey { get; }

    /// <summary>
    /// Imports the devices and adds a viewer key; <paramref name="settings"/> (e.g. --Gateway:Storage:Provider=Postgres and
    /// its connection string) go to the verbs as to the gateway, so they write the database the gateway will use.
    /// </summary>
    public static Provisioning Create(int devices, params string[] settings)
    {
        var dir = Path.Combine(Path.GetTempPath(), "iotws-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var csv = Path.Combine(dir, "devices.csv");
        File.WriteAllLines(csv, Enumerable.Range(0, devices).Select(i => $"bench-{i:D5}"));
        var output = new StringWriter();
        if (GatewayCli.Run(["devices", "import", csv, "--data-dir", dir, .. settings], output, Console.Error) != 0) throw new InvalidOperationException("devices import failed");
        var list = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Select(e => (e.GetProperty("deviceId").GetString()!, e.GetProperty("token").GetString()!))
            .ToList();
        var keyOut = new StringWriter();
        if (GatewayCli.Run(["keys", "add", "bench-viewer", "--role", "viewer", "--data-dir", dir, .. settings], keyOut, Console.Error) != 0) throw new InvalidOperationException("keys add failed");
        var key = JsonDocument.Parse(keyOut.ToString()).RootElement.GetProperty("key").GetString()!;
        return new Provisioning(dir, list, key);
    }

    /// <summary>An empty data directory for one more gateway on the same (shared) database: each gateway locks its own.</summary>
    public string NodeDataDir(int node)
    {
        var dir = Path.Combine(DataDir, "node" + node.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(DataDir, true); } catch (IOException) { }
    }
}
