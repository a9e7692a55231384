using Microsoft.AspNetCore.DataProtection.Repositories;

namespace IotWs.Gateway.Storage;

/// <summary>
/// Where the Data Protection key ring (the keys that encrypt Gateway:FieldsToEncrypt) is kept: on SQLite, files in
/// &lt;dataDir&gt;/keys as before; on PostgreSQL, the shared database's data_protection_keys table, so that every
/// gateway on that database reads what any of them encrypted.
/// </summary>
public interface IDataProtectionKeyStore : IXmlRepository
{
    /// <summary>
    /// Held while a gateway loads (or creates) its key ring at start, so that gateways starting together on one
    /// database make one first key between them, not one each. Dispose to let go.
    /// </summary>
    IDisposable LockKeyCreation();
}
