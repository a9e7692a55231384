using Microsoft.Data.Sqlite;

namespace IotWs.Gateway.Tests.Readings;

/// <summary>Looks into the gateway's SQLite file through a FRESH connection (no pool): what is there is on disk.</summary>
internal static class ReadingsDb
{
    public static SqliteConnection Open(string dataDir)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDir, "iotws.db"),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        c.Open();
        return c;
    }

    public static long Scalar(string dataDir, string sql, params (string Name, object Value)[] args)
    {
        using var c = Open(dataDir);
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
        return Convert.ToInt64(cmd.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    public static List<object?[]> Rows(string dataDir, string sql, params (string Name, object Value)[] args)
    {
        using var c = Open(dataDir);
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
        using var r = cmd.ExecuteReader();
        var rows = new List<object?[]>();
        while (r.Read())
        {
            var row = new object?[r.FieldCount];
            for (var i = 0; i < r.FieldCount; i++) row[i] = r.IsDBNull(i) ? null : r.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    public static long ReadingCount(string dataDir) => Scalar(dataDir, "SELECT count(*) FROM readings");
}
