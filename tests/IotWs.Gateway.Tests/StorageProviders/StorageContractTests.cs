using IotWs.Gateway.Configuration;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Storage;
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
            new SqliteStorageInfo(db),
            new SqliteLeaseStore(db));
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
            new PostgresStorageInfo(db),
            new PostgresLeaseStore(db));
    }

    [PostgresFact]
    public async Task Two_gateways_on_one_database_store_a_reading_once_and_both_answer_with_its_first_id()
    {
        var protector = Protector();
        var a = (PostgresReadingStore)OpenStores(protector).Readings;
        var b = (PostgresReadingStore)OpenStores(protector).Readings;
        a.Open();
        b.Open();
        var at = DateTimeOffset.UtcNow;
        WriteBatch Batch(int from, int to)
        {
            var batch = new WriteBatch();
            for (var seq = from; seq <= to; seq++) batch.Readings.Add(new ReadingWrite("esp-1", 1, seq, at.AddSeconds(seq), null, 20, 40, null, null, null));
            return batch;
        }
        // Overlapping commits at the same time, as when a device replays to a new node what the old one had stored.
        var first = Batch(1, 200);
        var second = Batch(100, 300);
        await Task.WhenAll(Task.Run(() => a.Commit(first)), Task.Run(() => b.Commit(second)));
        var ids = new Dictionary<int, long>();
        for (var seq = 1; seq <= 200; seq++) ids[seq] = first.ReadingOutcomes[seq - 1].InsertId;
        for (var seq = 100; seq <= 300; seq++)
        {
            var o = second.ReadingOutcomes[seq - 100];
            if (seq <= 200) Assert.Equal(ids[seq], o.InsertId);
            else ids[seq] = o.InsertId;
        }
        // Each overlapping reading was stored by exactly one of them; the other was told it is a duplicate.
        for (var seq = 100; seq <= 200; seq++) Assert.NotEqual(first.ReadingOutcomes[seq - 1].Duplicate, second.ReadingOutcomes[seq - 100].Duplicate);
        var stored = await a.ReadingsAsync("esp-1", at, at.AddHours(1), 1000, default);
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), stored.Select(r => r.Seq!.Value));
        Assert.Equal(ids.OrderBy(p => p.Key).Select(p => p.Value), stored.Select(r => r.InsertId));
        var minutes = await b.RollupsAsync("esp-1", Resolution.Minute, at.AddMinutes(-1), at.AddHours(1), 100, default);
        Assert.Equal(300, minutes.Sum(m => m.Count));
        a.Dispose();
        b.Dispose();
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
