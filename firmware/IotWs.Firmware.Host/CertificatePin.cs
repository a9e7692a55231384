using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace IotWs.Firmware.Host;

/// <summary>
/// The one gateway certificate a wss:// connection accepts, as its SHA-256 fingerprint (what `certs create`
/// prints) or read from the certificate file. Pinning replaces certificate-authority checks: the gateway's
/// certificate is self-signed, and any other certificate is refused even if a CA vouches for it.
/// </summary>
public sealed class CertificatePin
{
    private readonly byte[] _sha256;

    private CertificatePin(byte[] sha256) => _sha256 = sha256;

    /// <summary>The pinned fingerprint, colon-separated hex.</summary>
    public string Fingerprint => string.Join(':', Convert.ToHexString(_sha256).Chunk(2).Select(c => new string(c)));

    /// <summary>Hex SHA-256, with or without ':' separators, in any case.</summary>
    public static bool TryParseFingerprint(string text, out CertificatePin? pin)
    {
        pin = null;
        var hex = text.Replace(":", "", StringComparison.Ordinal).Trim();
        if (hex.Length != 64 || !hex.All(Uri.IsHexDigit)) return false;
        pin = new CertificatePin(Convert.FromHexString(hex));
        return true;
    }

    /// <summary>A PEM or DER certificate file (e.g. tls/gateway.crt of the gateway's data directory).</summary>
    public static CertificatePin FromCertificateFile(string path)
    {
        using var certificate = X509CertificateLoader.LoadCertificateFromFile(path);
        return FromCertificate(certificate);
    }

    /// <summary>The certificate of config.json's tlsCertificate (PEM text, as DeviceSettings keeps it): the simulator pins what a board trusts.</summary>
    public static CertificatePin FromPem(string pem)
    {
        using var certificate = X509Certificate2.CreateFromPem(pem);
        return FromCertificate(certificate);
    }

    public static CertificatePin FromCertificate(X509Certificate certificate) => new(SHA256.HashData(certificate.GetRawCertData()));

    /// <summary>A fingerprint, or else the path of a certificate file; null with an error when it is neither.</summary>
    public static CertificatePin? Parse(string value, out string? error)
    {
        error = null;
        if (TryParseFingerprint(value, out var pin)) return pin;
        try
        {
            return FromCertificateFile(value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            error = string.Format(CultureInfo.InvariantCulture, "{0} is neither a SHA-256 fingerprint nor a readable certificate file ({1})", value, e.Message);
            return null;
        }
    }

    /// <summary>True only for the pinned certificate, whatever its names, dates or issuer.</summary>
    public bool Matches(X509Certificate? certificate) =>
        certificate is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(certificate.GetRawCertData()), _sha256);
}
