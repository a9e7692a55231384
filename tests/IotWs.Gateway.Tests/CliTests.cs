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
        var store = new Identity.IdentityStore(new Storage.GatewayDatabase(_dir, [new Identity.IdentityStore.Schema()]));
        Assert.Null(store.Authenticate(token1));
        Assert.Equal("esp-2", store.Authenticate(token2)!.DeviceId);
        Assert.Equal(0, Run("devices", "revoke", "esp-2").Code);
        Assert.Null(store.Authenticate(token2));
        Assert.Equal(1, Run("devices", "revoke", "nope").Code);
    }

    [Fact]
    public void Import_prints_one_token_line_per_device_and_reports_bad_lines()
    {
        var csv = Path.Combine(_dir, "boards.csv");
        File.WriteAllLines(csv, ["deviceId,name,location", "esp-a,Attic,attic", "esp-b", "bad id!,x,y"]);
        var (code, output, err) = Run("devices", "import", csv);
        Assert.Equal(1, code);
        var lines = output.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Equal("esp-a", Json(lines[0]).GetProperty("deviceId").GetString());
        Assert.Contains("boards.csv:4", err);
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
    public void Unknown_verbs_print_usage_with_exit_code_2()
    {
        var (code, _, err) = Run("devices", "explode");
        Assert.Equal(2, code);
        Assert.Contains("Usage", err);
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
