using System.Text.Encodings.Web;
using System.Text.Json;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Storage;

namespace IotWs.Gateway.Cli;

/// <summary>
/// The provisioning verbs (devices …, keys …). Each prints JSON on stdout, one object per line,
/// and works while the gateway runs (SQLite WAL with a busy timeout).
/// </summary>
public static class GatewayCli
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static bool IsCommand(string[] args) => args.Length > 0 && args[0] is "devices" or "keys" or "help" or "--help" or "-h";

    /// <summary>Runs a verb; returns the process exit code (0 ok, 1 refused, 2 usage).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, IEnumerable<ISchemaMigration>? migrations = null)
    {
        var rest = new List<string>(args);
        var dataDir = TakeOption(rest, "--data-dir") ?? Environment.GetEnvironmentVariable("Gateway__DataDirectory") ?? "./data";
        if (rest.Count == 0 || rest[0] is "help" or "--help" or "-h")
        {
            stdout.Write(Usage);
            return rest.Count == 0 ? 2 : 0;
        }
        try
        {
            var db = new GatewayDatabase(dataDir, migrations ?? [new IdentityStore.Schema()]);
            var store = new IdentityStore(db);
            var verb = rest.Count > 1 ? rest[1] : "";
            return (rest[0], verb) switch
            {
                ("devices", "add") => DevicesAdd(store, rest, stdout),
                ("devices", "list") => Print(stdout, store.ListDevices().Select(d => new { d.DeviceId, d.Name, d.Location, d.CreatedAt, d.Revoked })),
                ("devices", "revoke") => Done(stdout, () => store.RevokeDevice(Arg(rest, 2, "deviceId")), "deviceId", Arg(rest, 2, "deviceId"), "revoked"),
                ("devices", "rotate-token") => PrintOne(stdout, new { deviceId = Arg(rest, 2, "deviceId"), token = store.RotateToken(Arg(rest, 2, "deviceId")) }),
                ("devices", "import") => DevicesImport(store, Arg(rest, 2, "file.csv"), stdout, stderr),
                ("keys", "add") => KeysAdd(store, rest, stdout),
                ("keys", "list") => Print(stdout, store.ListKeys().Select(k => new { k.Name, k.Role, k.CreatedAt, k.Revoked })),
                ("keys", "login-link") => KeysLoginLink(store, rest, stdout),
                ("keys", "revoke") => Done(stdout, () => store.RevokeKey(Arg(rest, 2, "name")), "name", Arg(rest, 2, "name"), "revoked"),
                _ => throw new UsageException($"Unknown command '{string.Join(' ', rest.Take(2))}'."),
            };
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            stderr.Write(Usage);
            return 2;
        }
        catch (IdentityException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private const string Usage = """
        Usage:
          IotWs.Gateway [serve] [--urls URL] [--data-dir DIR] [--simulate N]
          IotWs.Gateway devices add <deviceId> [--name NAME] [--location LOCATION] [--data-dir DIR]
          IotWs.Gateway devices list | revoke <deviceId> | rotate-token <deviceId> | import <file.csv>
          IotWs.Gateway keys add <name> --role viewer|technician|admin
          IotWs.Gateway keys list | revoke <name>
          IotWs.Gateway keys login-link <name> [--url http://HOST:5080]   (a one-time dashboard link, valid 10 minutes)
        Tokens and keys are printed once and stored only as hashes.

        """;

    private static int DevicesAdd(IdentityStore store, List<string> rest, TextWriter stdout)
    {
        var name = TakeOption(rest, "--name");
        var location = TakeOption(rest, "--location");
        var id = Arg(rest, 2, "deviceId");
        return PrintOne(stdout, new { deviceId = id, token = store.AddDevice(id, name, location) });
    }

    private static int KeysAdd(IdentityStore store, List<string> rest, TextWriter stdout)
    {
        var role = TakeOption(rest, "--role") ?? throw new UsageException("keys add needs --role viewer|technician|admin.");
        var name = Arg(rest, 2, "name");
        return PrintOne(stdout, new { name, role, key = store.AddKey(name, role) });
    }

    /// <summary>A one-time URL that signs a browser in with the key's role; the code sits in the fragment, so no server log sees it.</summary>
    private static int KeysLoginLink(IdentityStore store, List<string> rest, TextWriter stdout)
    {
        var url = (TakeOption(rest, "--url") ?? "http://localhost:5080").TrimEnd('/');
        var link = store.CreateLoginCode(Arg(rest, 2, "name"), DateTimeOffset.UtcNow);
        return PrintOne(stdout, new { name = link.KeyName, role = link.Role, url = $"{url}/#/login/{link.Code}", expiresAt = link.ExpiresAt });
    }

    /// <summary>CSV lines deviceId[,name[,location]]; a header line starting with "deviceId" is skipped. Prints one JSON line per device added.</summary>
    private static int DevicesImport(IdentityStore store, string path, TextWriter stdout, TextWriter stderr)
    {
        if (!File.Exists(path)) throw new IdentityException($"No such file: {path}");
        var failures = 0;
        var lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var cols = line.Split(',').Select(c => c.Trim().Trim('"')).ToArray();
            if (lineNo == 1 && cols[0].Equals("deviceId", StringComparison.OrdinalIgnoreCase)) continue;
            try
            {
                var token = store.AddDevice(cols[0], cols.Length > 1 && cols[1].Length > 0 ? cols[1] : null, cols.Length > 2 && cols[2].Length > 0 ? cols[2] : null);
                PrintOne(stdout, new { deviceId = cols[0], token });
            }
            catch (IdentityException e)
            {
                failures++;
                stderr.WriteLine($"error: {path}:{lineNo}: {e.Message}");
            }
        }
        return failures == 0 ? 0 : 1;
    }

    private static int Done(TextWriter stdout, Action action, string field, string value, string status)
    {
        action();
        stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string> { [field] = value, ["status"] = status }, Json));
        return 0;
    }

    private static int PrintOne(TextWriter stdout, object value)
    {
        stdout.WriteLine(JsonSerializer.Serialize(value, Json));
        return 0;
    }

    private static int Print<T>(TextWriter stdout, IEnumerable<T> values)
    {
        foreach (var v in values) stdout.WriteLine(JsonSerializer.Serialize(v, Json));
        return 0;
    }

    private static string Arg(List<string> rest, int index, string name) =>
        rest.Count > index && !rest[index].StartsWith("--", StringComparison.Ordinal) ? rest[index] : throw new UsageException($"Missing <{name}>.");

    private static string? TakeOption(List<string> rest, string option)
    {
        var i = rest.IndexOf(option);
        if (i < 0) return null;
        if (i + 1 >= rest.Count) throw new UsageException($"{option} needs a value.");
        var value = rest[i + 1];
        rest.RemoveRange(i, 2);
        return value;
    }

    private sealed class UsageException(string message) : Exception(message);
}
