using IotWs.Gateway.Configuration;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Storage.Postgres;
using IotWs.Gateway.Storage.Sqlite;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace IotWs.Gateway.Tests.StorageProviders;

/// <summary>The storage contract on SQLite: a real iotws.db in a temp data directory.</summary>
public sealed class SqliteStorageContractTests : StorageContract
{
    private readonly string _dir = TestGateway.NewDataDir();

    protected override Task CreateDatabaseAsync() => Task.CompletedTask;

    protected override Stores OpenStores(FieldProtector protector)
    {
        var db = new SqliteDatabase(_dir);
        var options = Options.Create(new GatewayOptions { DataDirectory = _dir });
        return new Stores(
            new SqliteReadingStore(db, options, protector),
            new SqliteCredentialStore(db),
            new SqlitePresenceStore(db, NullLogger<SqlitePresenceStore>.Instance),
            new SqliteAlertStore(db, NullLogger<SqliteAlertStore>.Instance),
            new SqliteRpcCallStore(db),
            new SqliteStorageInfo(db));
    }

    protected override Task DropDatabaseAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>The storage contract on PostgreSQL: a new database on the real server of the "postgres" collection.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresStorageContractTests(PostgresFixture postgres) : StorageContract
{
    private string? _connectionString;
    private readonly List<PostgresDatabase> _databases = [];

    protected override async Task CreateDatabaseAsync() => _connectionString = await postgres.Server.CreateDatabaseAsync();

    protected override Stores OpenStores(FieldProtector protector)
    {
        var db = new PostgresDatabase(_connectionString!);
        _databases.Add(db);
        return new Stores(
            new PostgresReadingStore(db, protector),
            new PostgresCredentialStore(db),
            new PostgresPresenceStore(db, NullLogger<PostgresPresenceStore>.Instance),
            new PostgresAlertStore(db, NullLogger<PostgresAlertStore>.Instance),
            new PostgresRpcCallStore(db),
            new PostgresStorageInfo(db));
    }

    protected override async Task DropDatabaseAsync()
    {
        foreach (var db in _databases) db.Dispose();
        if (_connectionString is null) return;
        NpgsqlConnection.ClearAllPools();
        var name = new NpgsqlConnectionStringBuilder(_connectionString).Database;
        await using var c = new NpgsqlConnection(postgres.Server.ConnectionString);
        await c.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", c);
        await drop.ExecuteNonQueryAsync();
    }
}
