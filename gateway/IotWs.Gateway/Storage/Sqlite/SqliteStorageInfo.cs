using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>The SQLite file's path and size, and whether it takes the write lock.</summary>
public sealed class SqliteStorageInfo(SqliteDatabase database) : IStorageInfo
{
    public string Provider => "sqlite";

    public JsonObject Describe() => new() { ["provider"] = Provider, ["path"] = database.FilePath, ["sizeBytes"] = database.SizeBytes() };

    public string? WhyNotWritable(TimeSpan timeout)
    {
        try
        {
            // Its own connection, not database.Open(): that one waits up to 10 s for the lock, a probe must not.
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder(database.ConnectionString)
            {
                DefaultTimeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds)),
            }.ToString());
            connection.Open();
            using (var pragma = connection.CreateCommand())
            {
                pragma.CommandText = $"PRAGMA busy_timeout={(int)timeout.TotalMilliseconds}";
                pragma.ExecuteNonQuery();
            }
            // BEGIN IMMEDIATE takes the write lock; nothing is written, and the rollback lets it go.
            using var transaction = connection.BeginTransaction(deferred: false);
            transaction.Rollback();
            return null;
        }
        catch (SqliteException e)
        {
            return e.Message;
        }
    }
}
