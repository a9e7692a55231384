using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Storage.Sqlite;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Readings;

namespace IotWs.Gateway.Tests.Cli;

/// <summary>The gateway as an operator runs it: a real process, its exit code, what it prints where.</summary>
public sealed class CliProcessTests : IDisposable
{
    private readonly string _dir = TestGateway.NewDataDir();

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_mistyped_verb_exits_2_with_a_suggestion_and_starts_no_server()
    {
        var result = await GatewayCommand.RunAsync("devcies", "list", "--data-dir", _dir);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("", result.Out);
        Assert.Equal("error: `devcies`: unknown command; did you mean `devices`?", result.ErrLines[0]);
        Assert.False(File.Exists(Path.Combine(_dir, "iotws.db")), "nothing was started or created");
    }

    [Fact]
    public async Task A_second_gateway_on_the_same_data_directory_refuses_to_start_in_one_line()
    {
        await using var first = await GatewayProcess.StartAsync(_dir);
        var second = await GatewayCommand.RunAsync("serve", "--urls", "http://127.0.0.1:0", "--data-dir", _dir);
        Assert.True(second.ExitCode == 1, second.ToString());
        var line = Assert.Single(second.ErrLines);
        Assert.Equal($"error: data directory {Path.GetFullPath(_dir)} is in use by process {first.Pid}; stop that gateway or choose another --data-dir.", line);

        // Verbs never take the serve lock: they work while the first gateway runs.
        var added = await GatewayCommand.RunAsync("devices", "add", "esp-while-locked", "--data-dir", _dir);
        Assert.True(added.ExitCode == 0, added.ToString());
        Assert.False(first.HasExited);
    }

    [Fact]
    public async Task The_lock_is_released_when_a_gateway_dies_so_the_next_one_starts()
    {
        var first = await GatewayProcess.StartAsync(_dir);
        first.Kill();
        await first.DisposeAsync();
        await using var second = await GatewayProcess.StartAsync(_dir);
        Assert.False(second.HasExited);
    }

    [Fact]
    public async Task Two_gateways_in_one_process_cannot_share_a_data_directory_either()
    {
        await using (var first = await TestGateway.StartAsync(_dir))
        {
            var e = await Assert.ThrowsAsync<DataDirectoryInUseException>(() => TestGateway.StartAsync(_dir));
            Assert.Equal(Environment.ProcessId, e.Pid);
        }
        await using var again = await TestGateway.StartAsync(_dir);
    }

    [Fact]
    public async Task A_port_already_in_use_is_one_line_and_exit_1()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var result = await GatewayCommand.RunAsync("--urls", $"http://127.0.0.1:{port}", "--data-dir", _dir, "--Logging:LogLevel:Default=Warning");
        Assert.True(result.ExitCode == 1, result.ToString());
        var errors = result.ErrLines.Concat(result.Out.Split('\n')).Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase) || l.Contains("fail", StringComparison.OrdinalIgnoreCase) || l.TrimStart().StartsWith("at ", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(errors);
        Assert.Equal($"error: Failed to bind to address http://127.0.0.1:{port}: address already in use (another gateway or program listens there; choose another with --urls).", line.Trim());
        Assert.DoesNotContain("Exception", result.Out + result.Err);
    }

    [Fact]
    public async Task A_bad_setting_on_the_command_line_is_one_line_and_exit_1()
    {
        var result = await GatewayCommand.RunAsync("serve", "--urls", "http://127.0.0.1:0", "--data-dir", _dir, "--Gateway:HeartbeatInterval=-00:00:05");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal("Configuration error: Gateway:HeartbeatInterval must be positive (got -00:00:05).", Assert.Single(result.ErrLines));
    }

    [Fact]
    public async Task Configuration_keys_on_the_command_line_reach_the_running_gateway()
    {
        await using var gateway = await GatewayProcess.StartAsync(_dir, "HeartbeatInterval=00:00:15");
        using var ws = new System.Net.WebSockets.ClientWebSocket();
        await ws.ConnectAsync(gateway.WsUri, CancellationToken.None);
        var buffer = new byte[8192];
        var received = await ws.ReceiveAsync(buffer, CancellationToken.None);
        using var welcome = JsonDocument.Parse(buffer.AsMemory(0, received.Count));
        Assert.Equal(15000, welcome.RootElement.GetProperty("heartbeatInterval").GetInt32());
    }

    [Fact]
    public async Task Dotnet_run_from_the_repository_keeps_stdout_to_the_json_and_the_data_in_the_current_directory()
    {
        // `dotnet run … devices add X >> devices.jsonl` must append exactly the JSON line: no "Using launch settings
        // from…", and ./data is the directory dotnet run was started in, not the project folder.
        var cwd = TestGateway.NewDataDir();
        try
        {
            var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            var project = Path.Combine(RepoPaths.Root, "gateway", "IotWs.Gateway");
            var result = await GatewayCommand.RunProcessAsync(cwd, GatewayCommand.DotnetHost(),
                ["run", "--no-build", "-c", configuration, "--project", project, "--", "devices", "add", "esp-run"]);
            Assert.True(result.ExitCode == 0, result.ToString());
            var line = Assert.Single(result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            using var printed = JsonDocument.Parse(line);
            Assert.Equal("esp-run", printed.RootElement.GetProperty("deviceId").GetString());
            Assert.True(File.Exists(Path.Combine(cwd, "data", SqliteDatabase.FileName)), "./data is relative to the current directory");
            Assert.False(Directory.Exists(Path.Combine(project, "data", "iotws.db")));
        }
        finally
        {
            try { Directory.Delete(cwd, true); } catch (IOException) { }
        }
    }
}
