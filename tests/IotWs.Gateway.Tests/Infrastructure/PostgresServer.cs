using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;

namespace IotWs.Gateway.Tests.Infrastructure;

/// <summary>
/// A real PostgreSQL (Debian's postgresql package) made by initdb in its own temp folder and started by pg_ctl on a
/// free loopback port; stopped and deleted on dispose. initdb and postgres refuse to run as root, so when the tests
/// run as root the folder is given to the postgres user and the tools run through runuser.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string User = "iotws";
    private readonly string _directory;
    private readonly string _bin;
    private readonly string _password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
    private bool _started;

    private PostgresServer(string bin)
    {
        _bin = bin;
        _directory = Directory.CreateTempSubdirectory("iotws-pg-").FullName;
    }

    public int Port { get; private set; }

    /// <summary>A connection string to the server's "postgres" database.</summary>
    public string ConnectionString => Connection("postgres");

    private string DataDirectory => Path.Combine(_directory, "data");
    private string LogPath => Path.Combine(_directory, "postgres.log");

    /// <summary>The folder of initdb and pg_ctl: IOTWS_PG_BIN, else the newest /usr/lib/postgresql/N/bin; null when there is none.</summary>
    public static string? FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("IOTWS_PG_BIN") is { Length: > 0 } given) return File.Exists(Path.Combine(given, "initdb")) ? given : null;
        if (!Directory.Exists("/usr/lib/postgresql")) return null;
        return Directory.GetDirectories("/usr/lib/postgresql")
            .Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")))
            .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
            .FirstOrDefault();
    }

    /// <summary>Why PostgreSQL tests skip here (null: they run). Under CI=true they never skip: a missing server fails them.</summary>
    public static string? SkipReason =>
        FindBinaries() is null && !IsCi
            ? "PostgreSQL is not installed (apt-get install -y postgresql; initdb and pg_ctl in /usr/lib/postgresql/N/bin); with CI=true this test fails instead."
            : null;

    private static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Starts a server. <paramref name="durable"/> false turns fsync off (tests: a crash of the test machine may lose
    /// the throwaway data); true keeps PostgreSQL's defaults (benchmarks).
    /// </summary>
    public static async Task<PostgresServer> StartAsync(bool durable = false)
    {
        var bin = FindBinaries() ?? throw new InvalidOperationException(
            "PostgreSQL is missing and CI=true, so this test fails instead of skipping. Install it: apt-get install -y postgresql");
        var server = new PostgresServer(bin);
        try
        {
            await server.InitAsync(durable);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public string Connection(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = User,
        Password = _password,
        Database = database,
        // Tests open and close many short-lived databases: no pooled connection may keep one from being dropped.
        Pooling = true,
        Timeout = 15,
    }.ConnectionString;

    /// <summary>A new, empty database of its own; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..16];
        await using var c = new NpgsqlConnection(ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
        await cmd.ExecuteNonQueryAsync();
        return Connection(name);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_started)
        {
            try
            {
                await RunAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "30", "stop");
            }
            catch (InvalidOperationException)
            {
                // Already gone: nothing left to stop.
            }
        }
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private async Task InitAsync(bool durable)
    {
        var passwordFile = Path.Combine(_directory, "password");
        await File.WriteAllTextAsync(passwordFile, _password + "\n");
        if (IsRoot)
        {
            await RunProcessAsync("chown", ["-R", "postgres:postgres", _directory]);
        }
        await RunAsync("initdb", "-D", DataDirectory, "-U", User, "--pwfile=" + passwordFile, "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync");
        var settings = $"-c listen_addresses=127.0.0.1 -c unix_socket_directories='{_directory}' -c max_connections=200"
            + (durable ? "" : " -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        // A free port can be taken between the probe and the start: try a few.
        for (var attempt = 0; ; attempt++)
        {
            Port = FreeLoopbackPort();
            try
            {
                await RunAsync("pg_ctl", "-D", DataDirectory, "-l", LogPath, "-w", "-t", "60", "-o", $"-p {Port} {settings}", "start");
                _started = true;
                return;
            }
            catch (InvalidOperationException) when (attempt < 2)
            {
            }
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    private Task RunAsync(string tool, params string[] args)
    {
        var path = Path.Combine(_bin, tool);
        return IsRoot ? RunProcessAsync("runuser", ["-u", "postgres", "--", path, .. args]) : RunProcessAsync(path, args);
    }

    private async Task RunProcessAsync(string file, string[] args)
    {
        var start = new ProcessStartInfo(file, args) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _directory };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            var log = File.Exists(LogPath) ? File.ReadAllText(LogPath) : "";
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}: {await stdout} {await stderr} {log}");
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
