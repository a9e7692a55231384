using IotWs.Gateway.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;

namespace IotWs.Gateway.Storage.Postgres;

/// <summary>
/// The shared PostgreSQL database (Gateway:Storage:ConnectionString): a pooled data source, and every feature's
/// schema (<see cref="PostgresSchema"/>) created or migrated on first use, under an advisory lock so that gateways
/// starting together migrate once.
/// </summary>
public sealed class PostgresDatabase : IDisposable
{
    // Any constant both sides agree on: "iotw" in ASCII.
    private const long MigrationLock = 0x696f7477;
    private readonly Lazy<NpgsqlDataSource> _source;

    public PostgresDatabase(IOptions<GatewayOptions> options)
        : this(StorageServices.RequireConnectionString(options.Value.Storage))
    {
    }

    public PostgresDatabase(string connectionString)
    {
        ConnectionString = connectionString;
        _source = new Lazy<NpgsqlDataSource>(() =>
        {
            var source = NpgsqlDataSource.Create(connectionString);
            Migrate(source);
            return source;
        });
    }

    public string ConnectionString { get; }

    /// <summary>Host and database, for /api/status (never the password).</summary>
    public string Describe()
    {
        var b = new NpgsqlConnectionStringBuilder(ConnectionString);
        return $"{b.Host}:{b.Port}/{b.Database}";
    }

    public NpgsqlConnection Open() => _source.Value.OpenConnection();

    public async Task<NpgsqlConnection> OpenAsync(CancellationToken ct) => await _source.Value.OpenConnectionAsync(ct);

    public void Dispose()
    {
        if (_source.IsValueCreated) _source.Value.Dispose();
    }

    private static void Migrate(NpgsqlDataSource source)
    {
        using var connection = source.OpenConnection();
        using var tx = connection.BeginTransaction();
        Execute(connection, tx, $"SELECT pg_advisory_xact_lock({MigrationLock})");
        Execute(connection, tx, "CREATE TABLE IF NOT EXISTS schema_versions (feature text PRIMARY KEY, version integer NOT NULL)");
        foreach (var migration in PostgresSchema.Features.OrderBy(m => m.Feature, StringComparer.Ordinal))
        {
            using var read = new NpgsqlCommand("SELECT version FROM schema_versions WHERE feature = @f", connection, tx);
            read.Parameters.AddWithValue("f", migration.Feature);
            var current = read.ExecuteScalar() is int v ? v : 0;
            for (var step = current; step < migration.Steps.Count; step++) Execute(connection, tx, migration.Steps[step]);
            if (migration.Steps.Count <= current) continue;
            using var set = new NpgsqlCommand(
                "INSERT INTO schema_versions (feature, version) VALUES (@f, @v) ON CONFLICT (feature) DO UPDATE SET version = excluded.version", connection, tx);
            set.Parameters.AddWithValue("f", migration.Feature);
            set.Parameters.AddWithValue("v", migration.Steps.Count);
            set.ExecuteNonQuery();
        }
        tx.Commit();
    }

    private static void Execute(NpgsqlConnection connection, NpgsqlTransaction tx, string sql)
    {
        using var cmd = new NpgsqlCommand(sql, connection, tx);
        cmd.ExecuteNonQuery();
    }
}
