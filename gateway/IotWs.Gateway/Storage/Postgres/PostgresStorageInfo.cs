using System.Text.Json.Nodes;
using Npgsql;

namespace IotWs.Gateway.Storage.Postgres;

/// <summary>The shared database's address and size, and whether it takes writes (a read-only standby does not).</summary>
public sealed class PostgresStorageInfo(PostgresDatabase db) : IStorageInfo
{
    public string Provider => "postgres";

    public JsonObject Describe()
    {
        long? size = null;
        try
        {
            using var c = db.Open();
            using var cmd = Pg.Command(c, "SELECT pg_database_size(current_database())");
            size = (long)cmd.ExecuteScalar()!;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            // Status still answers while the database is away; readiness says why.
        }
        return new JsonObject { ["provider"] = Provider, ["database"] = db.Describe(), ["sizeBytes"] = size };
    }

    public string? WhyNotWritable(TimeSpan timeout)
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Timeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds)), Pooling = false };
            using var c = new NpgsqlConnection(builder.ConnectionString);
            c.Open();
            using var tx = c.BeginTransaction();
            // txid_current() assigns a transaction id: refused on a read-only server or transaction. Nothing is written.
            using var cmd = Pg.Command(c, $"SET LOCAL statement_timeout = {(int)timeout.TotalMilliseconds}; SELECT txid_current()", tx);
            cmd.ExecuteScalar();
            tx.Rollback();
            return null;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            return e.Message;
        }
    }
}
