using System.Security.Cryptography;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Readings;

/// <summary>
/// Encrypts the reading and event fields named in Gateway:FieldsToEncrypt before they are stored
/// (ASP.NET Core Data Protection; the key ring is kept by <see cref="IDataProtectionKeyStore"/>) and decrypts them for the history API.
/// Stored values carry a prefix, so rows written before a field was added to the list still read as they are.
/// </summary>
public sealed class FieldProtector : IStoredFieldReader
{
    private const string Prefix = "enc:v1:";
    private readonly HashSet<string> _fields;
    private readonly Lazy<IDataProtector> _protector;

    public FieldProtector(IDataProtectionProvider provider, IOptions<GatewayOptions> options)
    {
        _fields = new HashSet<string>(options.Value.FieldsToEncrypt.Where(f => !string.IsNullOrWhiteSpace(f)), StringComparer.Ordinal);
        // The key ring is created on first use only: a gateway that encrypts nothing never touches it.
        _protector = new Lazy<IDataProtector>(() => provider.CreateProtector("IotWs.Gateway.StoredFields.v1"));
    }

    public bool Any => _fields.Count > 0;

    public bool Encrypts(string field) => _fields.Contains(field);

    /// <summary>The value to store for a field: encrypted when the field is listed.</summary>
    public string? ForStorage(string field, string? value) =>
        value is null || !Encrypts(field) ? value : Protect(value);

    public string Protect(string plain) => Prefix + _protector.Value.Protect(plain);

    /// <summary>The plain value of a stored field (unchanged when it was stored in the clear or cannot be decrypted).</summary>
    public string? Unprotect(string? stored)
    {
        if (stored is null || !stored.StartsWith(Prefix, StringComparison.Ordinal)) return stored;
        try
        {
            return _protector.Value.Unprotect(stored[Prefix.Length..]);
        }
        catch (CryptographicException)
        {
            // The key is gone (data directory restored without keys/, or another database's ring): show the stored text rather than fail the query.
            return stored;
        }
    }
}
