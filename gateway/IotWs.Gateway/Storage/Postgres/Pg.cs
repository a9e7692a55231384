using Npgsql;
using NpgsqlTypes;

namespace IotWs.Gateway.Storage.Postgres;

/// <summary>Small helpers for the PostgreSQL stores: commands with typed parameters (a null keeps its type) and epoch-millisecond times.</summary>
internal static class Pg
{
    public static NpgsqlCommand Command(NpgsqlConnection c, string sql, NpgsqlTransaction? tx = null) => new(sql, c, tx);

    public static NpgsqlCommand Text(this NpgsqlCommand cmd, string name, string? value) => Add(cmd, name, NpgsqlDbType.Text, value);
    public static NpgsqlCommand Long(this NpgsqlCommand cmd, string name, long? value) => Add(cmd, name, NpgsqlDbType.Bigint, value);
    public static NpgsqlCommand Int(this NpgsqlCommand cmd, string name, int? value) => Add(cmd, name, NpgsqlDbType.Integer, value);
    public static NpgsqlCommand Double(this NpgsqlCommand cmd, string name, double? value) => Add(cmd, name, NpgsqlDbType.Double, value);
    public static NpgsqlCommand Bool(this NpgsqlCommand cmd, string name, bool value) => Add(cmd, name, NpgsqlDbType.Boolean, value);
    public static NpgsqlCommand Bytes(this NpgsqlCommand cmd, string name, byte[] value) => Add(cmd, name, NpgsqlDbType.Bytea, value);
    public static NpgsqlCommand Time(this NpgsqlCommand cmd, string name, DateTimeOffset? value) => Long(cmd, name, value?.ToUnixTimeMilliseconds());

    public static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public static DateTimeOffset? OptionalTime(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : FromMs(r.GetInt64(i));
    public static string? OptionalText(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);
    public static long? OptionalLong(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);

    private static NpgsqlCommand Add(NpgsqlCommand cmd, string name, NpgsqlDbType type, object? value)
    {
        cmd.Parameters.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
        return cmd;
    }
}
