using System.Security.Cryptography.X509Certificates;
using IotWs.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Tls;

/// <summary>
/// Kestrel serves https/wss with the certificate of <c>certs create</c> (Gateway:Tls:CertificateFile and KeyFile,
/// by default tls/gateway.crt and tls/gateway.key in the data directory) on every https:// address of --urls.
/// Standard Kestrel certificate configuration (Kestrel:Certificates:Default, Kestrel:Endpoints:…) takes precedence.
/// </summary>
public static partial class GatewayTls
{
    public static WebApplicationBuilder AddGatewayTls(this WebApplicationBuilder builder)
    {
        if (builder.Configuration.GetSection("Kestrel:Certificates:Default").Exists()) return builder;
        builder.Services.AddSingleton<ServerCertificate>();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https =>
            https.ServerCertificate ??= kestrel.ApplicationServices.GetRequiredService<ServerCertificate>().Certificate));
        return builder;
    }

    /// <summary>The configured certificate, loaded once when the first https address is bound.</summary>
    internal sealed partial class ServerCertificate(IOptions<GatewayOptions> options, ILogger<ServerCertificate> logger)
    {
        private readonly Lazy<X509Certificate2> _certificate = new(() => Load(options.Value, logger));

        public X509Certificate2 Certificate => _certificate.Value;

        private static X509Certificate2 Load(GatewayOptions options, ILogger logger)
        {
            var (certificatePath, keyPath) = options.Tls.Paths(options.DataDirectory);
            if (!File.Exists(certificatePath) || !File.Exists(keyPath))
            {
                throw new TlsSetupException($"https needs a certificate: run `IotWs.Gateway certs create` (looked for {certificatePath} and {keyPath}).");
            }
            X509Certificate2 certificate;
            try
            {
                certificate = GatewayCertificate.Load(certificatePath, keyPath);
            }
            catch (System.Security.Cryptography.CryptographicException e)
            {
                throw new TlsSetupException($"cannot load the TLS certificate {certificatePath} with key {keyPath}: {e.Message}");
            }
            LogCertificate(logger, certificatePath, GatewayCertificate.Fingerprint(certificate), certificate.NotAfter);
            return certificate;
        }

        [LoggerMessage(Level = LogLevel.Information, Message = "TLS certificate {Path}, SHA-256 {Fingerprint}, valid until {NotAfter:yyyy-MM-dd}")]
        private static partial void LogCertificate(ILogger logger, string path, string fingerprint, DateTime notAfter);
    }
}

/// <summary>https was asked for, but there is no usable certificate.</summary>
public sealed class TlsSetupException(string message) : Exception(message);
