using System.Text.Json;
using IotWs.Gateway.Cli;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = TestGateway.NewDataDir();

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = GatewayCli.Run([.. args, "--data-dir", _dir], o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static JsonElement Json(string line) => JsonDocument.Parse(line).RootElement;

    [Fact]
    public void Devices_add_prints_the_token_once_and_stores_only_its_hash()
    {
        var (code, output, _) = Run("devices", "add", "esp-kitchen", "--name", "Kitchen", "--location", "kitchen");
        Assert.Equal(0, code);
        var printed = Json(output.Trim());
        Assert.Equal("esp-kitchen", printed.GetProperty("deviceId").GetString());
        var token = printed.GetProperty("token").GetString()!;
        Assert.True(token.Length >= 40, "≥128 random bits");
        var dbBytes = File.ReadAllBytes(Path.Combine(_dir, "iotws.db"));
        var wal = Path.Combine(_dir, "iotws.db-wal");
        var all = dbBytes.Concat(File.Exists(wal) ? File.ReadAllBytes(wal) : []).ToArray();
        Assert.Equal(-1, all.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(token)));

        var list = Run("devices", "list");
        var device = Json(list.Out.Trim());
        Assert.Equal("Kitchen", device.GetProperty("name").GetString());
        Assert.DoesNotContain(token, list.Out);
    }

    [Fact]
    public void Adding_an_existing_device_is_refused_with_a_clear_error()
    {
        Run("devices", "add", "esp-1");
        var (code, _, err) = Run("devices", "add", "esp-1");
        Assert.Equal(1, code);
        Assert.Contains("already exists", err);
    }

    [Fact]
    public void Rotate_token_invalidates_the_old_token_and_revoke_blocks_the_device()
    {
        var token1 = Json(Run("devices", "add", "esp-2").Out).GetProperty("token").GetString()!;
        var token2 = Json(Run("devices", "rotate-token", "esp-2").Out).GetProperty("token").GetString()!;
        Assert.NotEqual(token1, token2);
        var store = new Identity.IdentityStore(new global::IotWs.Gateway.Storage.Sqlite.SqliteCredentialStore(new global::IotWs.Gateway.Storage.Sqlite.SqliteDatabase(_dir)));
        Assert.Null(store.Authenticate(token1));
        Assert.Equal("esp-2", store.Authenticate(token2)!.DeviceId);
        Assert.Equal(0, Run("devices", "revoke", "esp-2").Code);
        Assert.Null(store.Authenticate(token2));
        Assert.Equal(1, Run("devices", "revoke", "nope").Code);
    }

    [Fact]
    public void Import_prints_one_token_line_per_device()
    {
        var csv = Path.Combine(_dir, "boards.csv");
        File.WriteAllLines(csv, ["deviceId,name,location", "esp-a,Attic,attic", "# spare boards", "", "esp-b"]);
        var (code, output, err) = Run("devices", "import", csv);
        Assert.True(code == 0, err);
        var lines = output.Trim().Split('\n');
        Assert.Equal(["esp-a", "esp-b"], lines.Select(l => Json(l).GetProperty("deviceId").GetString()));
        Assert.All(lines, l => Assert.StartsWith("iwd_", Json(l).GetProperty("token").GetString()));
    }

    [Fact]
    public void Import_reads_quoted_fields_as_RFC_4180_says()
    {
        var csv = Path.Combine(_dir, "boards.csv");
        File.WriteAllText(csv, "ok4,\"Kitchen, upstairs\",home\nok5,\"The \"\"big\"\" room\",\"first\nfloor\"\nok6,,garage\n");
        var (code, _, err) = Run("devices", "import", csv);
        Assert.True(code == 0, err);
        var devices = Run("devices", "list").Out.Trim().Split('\n').Select(Json).ToDictionary(d => d.GetProperty("deviceId").GetString()!);
        Assert.Equal("Kitchen, upstairs", devices["ok4"].GetProperty("name").GetString());
        Assert.Equal("home", devices["ok4"].GetProperty("location").GetString());
        Assert.Equal("The \"big\" room", devices["ok5"].GetProperty("name").GetString());
        Assert.Equal("first\nfloor", devices["ok5"].GetProperty("location").GetString());
        Assert.Equal(JsonValueKind.Null, devices["ok6"].GetProperty("name").ValueKind);
        Assert.Equal("garage", devices["ok6"].GetProperty("location").GetString());
    }

    [Fact]
    public void Import_with_any_bad_line_adds_no_device_and_names_every_bad_line()
    {
        Run("devices", "add", "esp-old");
        var csv = Path.Combine(_dir, "boards.csv");
        File.WriteAllLines(csv, ["deviceId,name,location", "esp-a,Attic,attic", "bad id!,x,y", "esp-a,again", "esp-old", "esp-c,a,b,c", "esp-d,\"unclosed"]);
        var (code, output, err) = Run("devices", "import", csv);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains("boards.csv:3:", err);
        Assert.Contains("boards.csv:4: device 'esp-a' is listed twice", err);
        Assert.Contains("boards.csv:5: device 'esp-old' already exists", err);
        Assert.Contains("boards.csv:6: 4 columns", err);
        Assert.Contains("boards.csv:7: not valid CSV", err);
        Assert.Contains("nothing was imported", err);
        var listed = Run("devices", "list").Out.Trim().Split('\n');
        Assert.Equal(["esp-old"], listed.Select(l => Json(l).GetProperty("deviceId").GetString()));
    }

    [Fact]
    public void Import_of_a_missing_file_is_refused()
    {
        var (code, _, err) = Run("devices", "import", Path.Combine(_dir, "nope.csv"));
        Assert.Equal(1, code);
        Assert.Contains("No such file", err);
    }

    [Fact]
    public void Keys_add_list_and_revoke()
    {
        var added = Json(Run("keys", "add", "tech-anna", "--role", "technician").Out);
        Assert.Equal("technician", added.GetProperty("role").GetString());
        Assert.StartsWith("iwk_", added.GetProperty("key").GetString());
        Assert.Contains("tech-anna", Run("keys", "list").Out);
        Assert.Equal(0, Run("keys", "revoke", "tech-anna").Code);
        Assert.Contains("\"revoked\":true", Run("keys", "list").Out);
        var bad = Run("keys", "add", "x", "--role", "root");
        Assert.Equal(1, bad.Code);
        Assert.Contains("not a role", bad.Err);
    }

    [Fact]
    public void Unknown_verbs_are_usage_errors_with_exit_code_2_and_a_pointer_to_help()
    {
        var (code, output, err) = Run("devices", "explode");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("error: `explode`: unknown command", err);
        Assert.Contains("Run `IotWs.Gateway devices --help` for usage.", err);
    }

    [Fact]
    public void A_mistyped_verb_gets_a_suggestion_instead_of_a_server()
    {
        var (code, output, err) = Run("devcies", "list");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.StartsWith("error: `devcies`: unknown command; did you mean `devices`?", err);
        Assert.DoesNotContain("'list'", err);
        Assert.Contains("did you mean `rotate-token`?", Run("devices", "rotate-tokne", "x").Err);
        Assert.Contains("did you mean `--location`?", Run("devices", "add", "x", "--locaton", "y").Err);
    }

    [Fact]
    public void A_missing_argument_or_option_is_a_usage_error()
    {
        Assert.Equal(2, Run("devices", "revoke").Code);
        var keys = Run("keys", "add", "anna");
        Assert.Equal(2, keys.Code);
        Assert.Contains("--role", keys.Err);
    }

    [Theory]
    [InlineData("")]
    [InlineData("serve")]
    [InlineData("devices")]
    [InlineData("devices add")]
    [InlineData("devices list")]
    [InlineData("devices revoke")]
    [InlineData("devices rotate-token")]
    [InlineData("devices import")]
    [InlineData("keys")]
    [InlineData("keys add")]
    [InlineData("keys list")]
    [InlineData("keys revoke")]
    [InlineData("certs")]
    [InlineData("certs create")]
    [InlineData("certs show")]
    public void Every_verb_has_help_with_the_exit_codes(string verb)
    {
        var (code, output, err) = Run([.. verb.Split(' ', StringSplitOptions.RemoveEmptyEntries), "--help"]);
        Assert.True(code == 0, err);
        Assert.Contains("Usage:", output);
        Assert.Contains("IotWs.Gateway " + verb, output);
        Assert.Contains("Exit codes: 0 done; 1 refused or failed", output);
        Assert.Contains("--data-dir", output);
    }

    [Fact]
    public void Verbs_find_the_data_directory_in_configuration_keys_too()
    {
        var o = new StringWriter();
        Assert.Equal(0, GatewayCli.Run(["devices", "add", "esp-config", $"--Gateway:DataDirectory={_dir}"], o, TextWriter.Null));
        Assert.Contains("esp-config", Run("devices", "list").Out);
    }

    [Fact]
    public void The_database_and_its_wal_and_shm_are_readable_only_by_their_owner()
    {
        Run("devices", "add", "esp-mode");
        var db = Path.Combine(_dir, "iotws.db");
        using var open = new global::IotWs.Gateway.Storage.Sqlite.SqliteDatabase(_dir).Open();
        foreach (var file in new[] { db, db + "-wal", db + "-shm" })
        {
            Assert.True(File.Exists(file), file);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
    }

    [Fact]
    public void A_database_created_world_readable_by_an_older_gateway_is_tightened_to_0600()
    {
        Run("devices", "add", "esp-old-mode");
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var db = Path.Combine(_dir, "iotws.db");
        File.SetUnixFileMode(db, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Run("devices", "list");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(db));
    }

    [Fact]
    public async Task Verbs_work_while_the_gateway_is_running()
    {
        await using var gateway = await TestGateway.StartAsync(_dir);
        var token = Json(Run("devices", "add", "esp-live").Out).GetProperty("token").GetString()!;
        await using var client = await gateway.ConnectDeviceAsync("esp-live", token);
        Assert.Contains("esp-live", Run("devices", "list").Out);
    }

    [Fact]
    public async Task First_start_creates_an_admin_key_in_an_owner_only_file()
    {
        await using var gateway = await TestGateway.StartAsync(_dir);
        var path = Path.Combine(_dir, "admin.key");
        Assert.True(File.Exists(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var key = File.ReadAllText(path).Trim();
        using var http = gateway.Http(key);
        var me = await http.GetStringAsync("/api/me");
        Assert.Contains("\"role\":\"admin\"", me);
    }
}
