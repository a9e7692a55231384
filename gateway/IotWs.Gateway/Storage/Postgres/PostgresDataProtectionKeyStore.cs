using System.Xml.Linq;
using Npgsql;

namespace IotWs.Gateway.Storage.Postgres;

/// <summary>
/// The cluster's key ring: every Data Protection key (and revocation) is a row of data_protection_keys in the
/// shared database, so a field one gateway encrypted is decrypted by any other on that database.
/// </summary>
public sealed class PostgresDataProtectionKeyStore(PostgresDatabase database) : IDataProtectionKeyStore
{
    // Any constant both sides agree on: "iotk" in ASCII (the migration lock is "iotw").
    private const long KeyCreationLock = 0x696f746b;

    public IDisposable LockKeyCreation()
    {
        var c = database.Open();
        try
        {
            using var cmd = Pg.Command(c, $"SELECT pg_advisory_lock({KeyCreationLock})");
            cmd.ExecuteNonQuery();
            return new SessionLock(c);
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var c = database.Open();
        using var cmd = Pg.Command(c, "SELECT xml FROM data_protection_keys ORDER BY id");
        using var r = cmd.ExecuteReader();
        var elements = new List<XElement>();
        while (r.Read()) elements.Add(XElement.Parse(r.GetString(0)));
        return elements;
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var c = database.Open();
        using var cmd = Pg.Command(c, "INSERT INTO data_protection_keys (friendly_name, xml, created_at_ms) VALUES (@n, @x, @t)")
            .Text("n", friendlyName)
            .Text("x", element.ToString(SaveOptions.DisableFormatting))
            .Time("t", DateTimeOffset.UtcNow);
        cmd.ExecuteNonQuery();
    }

    private sealed class SessionLock(NpgsqlConnection connection) : IDisposable
    {
        public void Dispose()
        {
            // Closing the session would release it too, but a pooled connection stays open: unlock explicitly.
            using (var cmd = Pg.Command(connection, $"SELECT pg_advisory_unlock({KeyCreationLock})")) cmd.ExecuteNonQuery();
            connection.Dispose();
        }
    }
}
