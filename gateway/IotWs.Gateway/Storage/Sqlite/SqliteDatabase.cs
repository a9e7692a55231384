using IotWs.Gateway.Configuration;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>The gateway's SQLite file: opens tuned connections and migrates every feature's schema (<see cref="SqliteSchema"/>) when opened.</summary>
public sealed class SqliteDatabase
{
    public const string FileName = "iotws.db";

    public SqliteDatabase(IOptions<GatewayOptions> options)
        : this(options.Value.DataDirectory)
    {
    }

    public SqliteDatabase(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        FilePath = Path.GetFullPath(Path.Combine(dataDirectory, FileName));
        RestrictToOwner(FilePath);
        ConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = FilePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        Migrate();
    }

    public string FilePath { get; }
    public string ConnectionString { get; }

    /// <summary>An open connection in WAL mode; synchronous=NORMAL is durable across process crashes in WAL.</summary>
    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        using var pragma = connection.CreateCommand();
        // busy_timeout lets CLI verbs run while the gateway holds the write lock.
        pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;";
        pragma.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Size of the database and its WAL on disk.</summary>
    public long SizeBytes()
    {
        long size = 0;
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            var info = new FileInfo(FilePath + suffix);
            if (info.Exists) size += info.Length;
        }
        return size;
    }

    /// <summary>
    /// The database holds token hashes and readings: mode 0600, like admin.key. SQLite gives its -wal and -shm files
    /// the database file's mode, so creating the file first with 0600 covers all three; older files are tightened.
    /// </summary>
    private static void RestrictToOwner(string path)
    {
        if (OperatingSystem.IsWindows()) return;
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (!File.Exists(path))
        {
            try
            {
                using (new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = ownerOnly })) { }
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process (a CLI verb, the gateway) created it first, with the same mode.
            }
        }
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            var file = path + suffix;
            try
            {
                if (File.Exists(file) && (File.GetUnixFileMode(file) & ~ownerOnly) != 0) File.SetUnixFileMode(file, ownerOnly);
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to change (run as another user): SQLite still opens it as before.
            }
        }
    }

    private void Migrate()
    {
        using var connection = Open();
        Execute(connection, null, "CREATE TABLE IF NOT EXISTS schema_versions (feature TEXT PRIMARY KEY, version INTEGER NOT NULL)");
        foreach (var migration in SqliteSchema.Features.OrderBy(m => m.Feature, StringComparer.Ordinal))
        {
            using var tx = connection.BeginTransaction();
            var current = CurrentVersion(connection, tx, migration.Feature);
            for (var step = current; step < migration.Steps.Count; step++)
            {
                Execute(connection, tx, migration.Steps[step]);
            }
            if (migration.Steps.Count > current)
            {
                using var set = connection.CreateCommand();
                set.Transaction = tx;
                set.CommandText = "INSERT INTO schema_versions(feature, version) VALUES ($f, $v) ON CONFLICT(feature) DO UPDATE SET version = excluded.version";
                set.Parameters.AddWithValue("$f", migration.Feature);
                set.Parameters.AddWithValue("$v", migration.Steps.Count);
                set.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    private static int CurrentVersion(SqliteConnection connection, SqliteTransaction tx, string feature)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT version FROM schema_versions WHERE feature = $f";
        cmd.Parameters.AddWithValue("$f", feature);
        return cmd.ExecuteScalar() is long v ? (int)v : 0;
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction? tx, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
