using System.CommandLine;
using System.Text.Json.Nodes;

namespace IotWs.Gateway.Cli;

/// <summary><c>keys add|list|revoke</c>: API keys for people and scripts (printed once, stored as hashes).</summary>
internal static class KeyCommands
{
    public static Command Create(CliEnvironment environment)
    {
        var keys = new Command("keys", "API keys for the dashboard, scripts and protocol clients. A key is printed once and stored only as a hash.");
        keys.Add(Add(environment));
        keys.Add(List(environment));
        keys.Add(Revoke(environment));
        keys.Add(LoginLink(environment));
        return keys;
    }

    private static Argument<string> KeyName() => new("name") { Description = "1-64 letters, digits, '_', '.', ':' or '-'." };

    private static Command Add(CliEnvironment environment)
    {
        var name = KeyName();
        // The store checks the role, so a wrong one is a refusal (exit 1) with the same words as over HTTP.
        var role = new Option<string>("--role") { Description = "viewer, technician or admin.", Required = true, HelpName = "viewer|technician|admin" };
        var add = new Command("add", """Adds an API key; prints {"name":…,"role":…,"key":…}.""") { name, role };
        add.SetVerbAction(environment, v =>
        {
            var keyName = v.Value(name);
            var keyRole = v.Value(role)!;
            return v.PrintJson(new JsonObject { ["name"] = keyName, ["role"] = keyRole, ["key"] = v.Identities.AddKey(keyName, keyRole) });
        });
        return add;
    }

    private static Command List(CliEnvironment environment)
    {
        var list = new Command("list", "Prints every API key's name and role, one JSON object per line (no keys).");
        list.SetVerbAction(environment, v => v.PrintJsonLines(v.Identities.ListKeys()));
        return list;
    }

    private static Command Revoke(CliEnvironment environment)
    {
        var name = KeyName();
        var revoke = new Command("revoke", "Revokes an API key.") { name };
        revoke.SetVerbAction(environment, v =>
        {
            var keyName = v.Value(name);
            v.Identities.RevokeKey(keyName);
            return v.PrintJson(new JsonObject { ["name"] = keyName, ["status"] = "revoked" });
        });
        return revoke;
    }

    /// <summary>A one-time URL that signs a browser in with the key's role; the code sits in the fragment, so no server log sees it.</summary>
    private static Command LoginLink(CliEnvironment environment)
    {
        var name = KeyName();
        var url = new Option<string>("--url") { Description = "The dashboard's address as the browser reaches it.", DefaultValueFactory = _ => "http://localhost:5080" };
        var command = new Command("login-link", """Prints {"name","role","url","expiresAt"}: a one-time dashboard link for that key, valid 10 minutes.""") { name, url };
        command.SetVerbAction(environment, v =>
        {
            var baseUrl = v.Value(url)!.TrimEnd('/');
            var link = v.Identities.CreateLoginCode(v.Value(name), DateTimeOffset.UtcNow);
            return v.PrintJson(new JsonObject { ["name"] = link.KeyName, ["role"] = link.Role, ["url"] = $"{baseUrl}/#/login/{link.Code}", ["expiresAt"] = link.ExpiresAt });
        });
        return command;
    }
}
