using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using IotWs.Gateway.Identity;

namespace IotWs.Gateway.Tls;

/// <summary>
/// The gateway's self-signed TLS certificate (made by <c>certs create</c>): PEM files in the data directory, the
/// private key readable only by its owner. Devices and the simulator pin it (the whole certificate or its SHA-256
/// fingerprint) instead of trusting a certificate authority, so it names the gateway's host names and addresses.
/// </summary>
public static class GatewayCertificate
{
    public const string DirectoryName = "tls";
    public const string CertificateFileName = "gateway.crt";
    public const string KeyFileName = "gateway.key";

    /// <summary>RSA 2048 with SHA-256: what every TLS stack on the devices (mbedTLS on the ESP32) verifies cheaply.</summary>
    public static X509Certificate2 Create(IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses, TimeSpan validity, DateTimeOffset now)
    {
        using var key = RSA.Create(2048);
        var subject = new X500DistinguishedName($"CN={(dnsNames.Count > 0 ? dnsNames[0] : "iotws-gateway")}, O=IotWs gateway");
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var dns in dnsNames) names.AddDnsName(dns);
        foreach (var address in addresses) names.AddIpAddress(address);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        // A day of slack for a device whose clock is a little behind.
        return request.CreateSelfSigned(now.AddDays(-1), now + validity);
    }

    /// <summary>Writes the certificate (PEM, world-readable: it is public) and its private key (PKCS#8 PEM, mode 0600).</summary>
    public static void Save(X509Certificate2 certificate, string certificatePath, string keyPath)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(certificatePath))!);
        using var key = certificate.GetRSAPrivateKey() ?? throw new InvalidOperationException("The certificate has no RSA private key.");
        FirstStartAdminKey.WriteOwnerOnly(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n");
    }

    /// <summary>Loads the certificate with its key, usable by Kestrel on every platform.</summary>
    public static X509Certificate2 Load(string certificatePath, string keyPath)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        // An ephemeral PEM key cannot serve TLS on Windows; a PKCS#12 round trip gives a persisted one everywhere.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>SHA-256 of the DER certificate as colon-separated hex (AB:CD:…), the form `certs create` prints.</summary>
    public static string Fingerprint(X509Certificate2 certificate) =>
        string.Join(':', Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256)).Chunk(2).Select(c => new string(c)));

    public static IEnumerable<string> DnsNames(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames());

    public static IEnumerable<IPAddress> IpAddresses(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateIPAddresses());

    /// <summary>This machine's host name (and its .local mDNS name) and localhost.</summary>
    public static IEnumerable<string> LocalDnsNames()
    {
        var host = Dns.GetHostName();
        return new[] { host, host.Contains('.', StringComparison.Ordinal) ? null : host + ".local", "localhost" }.OfType<string>();
    }

    /// <summary>Loopback and the addresses of every interface that is up (link-local IPv6 left out: it needs a zone).</summary>
    public static IEnumerable<IPAddress> LocalAddresses()
    {
        IEnumerable<IPAddress> up;
        try
        {
            up = NetworkInterface.GetAllNetworkInterfaces()
                .Where(n => n.OperationalStatus == OperationalStatus.Up)
                .SelectMany(n => n.GetIPProperties().UnicastAddresses)
                .Select(a => a.Address)
                .Where(a => a.AddressFamily == AddressFamily.InterNetwork || (a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv6LinkLocal));
        }
        catch (NetworkInformationException)
        {
            up = [];
        }
        return new[] { IPAddress.Loopback, IPAddress.IPv6Loopback }.Concat(up).Distinct();
    }
}
