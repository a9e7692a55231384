using System.CommandLine;
using System.Text.Json.Nodes;

namespace IotWs.Gateway.Cli;

/// <summary><c>devices add|list|revoke|rotate-token|import</c>: device identities and their tokens (printed once, stored as hashes).</summary>
internal static class DeviceCommands
{
    public static Command Create(CliEnvironment environment)
    {
        var devices = new Command("devices", "Devices and their tokens. A token is printed once and stored only as a hash.");
        devices.Add(Add(environment));
        devices.Add(List(environment));
        devices.Add(Revoke(environment));
        devices.Add(RotateToken(environment));
        devices.Add(Import(environment));
        return devices;
    }

    private static Argument<string> DeviceId() => new("deviceId") { Description = "1-64 letters, digits, '_', '.', ':' or '-'." };

    private static Command Add(CliEnvironment environment)
    {
        var id = DeviceId();
        var name = new Option<string>("--name") { Description = "Display name (e.g. Kitchen)." };
        var location = new Option<string>("--location") { Description = "Location (e.g. kitchen)." };
        var add = new Command("add", """Adds a device; prints {"deviceId":…,"token":…}.""") { id, name, location };
        add.SetVerbAction(environment, v =>
        {
            var deviceId = v.Value(id);
            return v.PrintJson(new JsonObject { ["deviceId"] = deviceId, ["token"] = v.Identities.AddDevice(deviceId, v.Value(name), v.Value(location)) });
        });
        return add;
    }

    private static Command List(CliEnvironment environment)
    {
        var list = new Command("list", "Prints every device, one JSON object per line (no tokens).");
        list.SetVerbAction(environment, v => v.PrintJsonLines(v.Identities.ListDevices()));
        return list;
    }

    private static Command Revoke(CliEnvironment environment)
    {
        var id = DeviceId();
        var revoke = new Command("revoke", "Revokes a device: its token no longer authenticates.") { id };
        revoke.SetVerbAction(environment, v =>
        {
            var deviceId = v.Value(id);
            v.Identities.RevokeDevice(deviceId);
            return v.PrintJson(new JsonObject { ["deviceId"] = deviceId, ["status"] = "revoked" });
        });
        return revoke;
    }

    private static Command RotateToken(CliEnvironment environment)
    {
        var id = DeviceId();
        var rotate = new Command("rotate-token", """Gives a device a new token (the old one stops working); prints {"deviceId":…,"token":…}.""") { id };
        rotate.SetVerbAction(environment, v =>
        {
            var deviceId = v.Value(id);
            return v.PrintJson(new JsonObject { ["deviceId"] = deviceId, ["token"] = v.Identities.RotateToken(deviceId) });
        });
        return rotate;
    }

    private static Command Import(CliEnvironment environment)
    {
        var file = new Argument<FileInfo>("file.csv") { Description = "CSV (RFC 4180) with columns deviceId[,name[,location]]; an optional header line starts with deviceId; lines starting with # are comments." };
        var import = new Command("import", """Adds a batch of devices, all or nothing: every line is checked before any device is added. Prints {"deviceId":…,"token":…} per device.""") { file };
        import.SetVerbAction(environment, v =>
        {
            var path = v.Value(file).FullName;
            if (!File.Exists(path)) throw new VerbException($"No such file: {v.Value(file)}");
            var rows = DeviceCsv.Read(path, v.Identities, out var problems);
            if (problems.Count > 0)
            {
                foreach (var p in problems) v.Error.WriteLine($"error: {v.Value(file)}:{p}");
                v.Error.WriteLine("error: nothing was imported.");
                return ExitCodes.Failed;
            }
            foreach (var row in rows) v.PrintJson(new JsonObject { ["deviceId"] = row.DeviceId, ["token"] = v.Identities.AddDevice(row.DeviceId, row.Name, row.Location) });
            return ExitCodes.Ok;
        });
        return import;
    }
}
