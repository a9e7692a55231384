using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Storage;
using Microsoft.Extensions.Configuration;

namespace IotWs.Gateway.Cli;

/// <summary>
/// What a provisioning verb works with: its parsed arguments, stdout for its JSON lines, stderr for everything
/// else, and the data directory's identity store. Verbs open the database directly (SQLite WAL with a busy
/// timeout) and never take the serve lock, so they work while the gateway runs.
/// </summary>
internal sealed class VerbContext(ParseResult parse, CliEnvironment environment)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        TypeInfoResolver = CliJson.Default,
    };

    private IdentityStore? _identities;

    public ParseResult Parse => parse;
    public TextWriter Out => environment.Out;
    public TextWriter Error => environment.Error;

    /// <summary>--data-dir, else Gateway:DataDirectory from appsettings.json, environment or command line, else ./data.</summary>
    public string DataDirectory => environment.DataDirectory(parse);

    /// <summary>appsettings.json, environment variables and the command line's configuration keys.</summary>
    public IConfiguration Configuration => environment.Configuration();

    /// <summary>The identities of the gateway's database: Gateway:Storage:Provider and ConnectionString say which, as for serve.</summary>
    public IdentityStore Identities => _identities ??= new IdentityStore(StorageServices.OpenCredentials(StorageSettings(), DataDirectory));

    private Configuration.StorageOptions StorageSettings()
    {
        var options = new Configuration.StorageOptions();
        Configuration.GetSection("Gateway:Storage").Bind(options);
        return options;
    }

    public T Value<T>(Argument<T> argument) => parse.GetRequiredValue(argument);

    public T? Value<T>(Option<T> option) => parse.GetValue(option);

    /// <summary>Prints one JSON object on its own line (the machine-readable output of every verb).</summary>
    public int PrintJson(JsonObject value)
    {
        Out.WriteLine(value.ToJsonString(Json));
        return ExitCodes.Ok;
    }

    /// <summary>One line per record (a type in <see cref="CliJson"/>).</summary>
    public int PrintJsonLines<T>(IEnumerable<T> values)
    {
        var info = (JsonTypeInfo<T>)Json.GetTypeInfo(typeof(T));
        foreach (var v in values) Out.WriteLine(JsonSerializer.Serialize(v, info));
        return ExitCodes.Ok;
    }
}

/// <summary>The records the list verbs print, serialized by compiled code.</summary>
[JsonSerializable(typeof(DeviceRecord))]
[JsonSerializable(typeof(ApiKeyRecord))]
internal sealed partial class CliJson : JsonSerializerContext;

/// <summary>The process's writers and the configuration keys given on the command line.</summary>
internal sealed class CliEnvironment(TextWriter stdout, TextWriter stderr, string[] settings, Option<string> dataDirOption)
{
    public TextWriter Out => stdout;
    public TextWriter Error => stderr;
    public string[] Settings => settings;

    public string? GivenDataDirectory(ParseResult parse) => parse.GetValue(dataDirOption) is { Length: > 0 } dir ? dir : null;

    public string DataDirectory(ParseResult parse) =>
        GivenDataDirectory(parse) is { } dir ? dir : Configuration()["Gateway:DataDirectory"] is { Length: > 0 } configured ? configured : "./data";

    /// <summary>The same sources as the gateway's, in the same order, for the keys a verb needs.</summary>
    public IConfiguration Configuration() => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
        .AddEnvironmentVariables()
        .AddCommandLine(settings)
        .Build();
}

/// <summary>The documented exit codes of every verb, serve included.</summary>
public static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;
    /// <summary>Refused or failed: bad input to a verb, a bad setting, the data directory in use, the port in use.</summary>
    public const int Failed = 1;
    /// <summary>Usage error: unknown verb or option, missing or malformed argument. Nothing was done.</summary>
    public const int Usage = 2;

    internal const string Help = "Exit codes: 0 done; 1 refused or failed (bad input, bad setting, data directory or port in use); 2 usage error (unknown verb or option, missing argument): nothing was done.";
}
