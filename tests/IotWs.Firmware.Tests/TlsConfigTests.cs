using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;

namespace IotWs.Firmware.Tests;

/// <summary>A self-signed certificate like the one `certs create` makes, as PEM text.</summary>
internal static class TestCertificate
{
    public static string Pem(string host = "pi.local")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + host, key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(host);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
        return certificate.ExportCertificatePem();
    }
}

/// <summary>config.json's tlsCertificate, read by the firmware's own parser (DeviceSettings.FromConfig).</summary>
public class TlsConfigTests
{
    private static readonly string Pem = TestCertificate.Pem();

    private static DeviceSettings? Read(object config, out string? error) =>
        DeviceSettings.FromConfig(new SystemTextJsonCodec().Parse(JsonSerializer.Serialize(config))!, out error);

    [Fact]
    public void A_wss_gateway_with_its_certificate_is_read_as_tls_with_one_connect_at_a_time()
    {
        var settings = Read(new { gatewayUrl = "wss://pi.local:5443/ws", deviceId = "d", token = "t", tlsCertificate = Pem }, out var error);

        Assert.Null(error);
        Assert.NotNull(settings);
        Assert.True(settings.UsesTls);
        Assert.Equal(Pem.Trim() + "\n", settings.TlsCertificate);
        Assert.Equal(1, settings.MaxConnectsInFlight);
        // It is the very certificate: the simulator pins it from the same text.
        using var certificate = X509Certificate2.CreateFromPem(Pem);
        Assert.True(CertificatePin.FromPem(settings.TlsCertificate!).Matches(certificate));
    }

    [Fact]
    public void Plain_ws_without_a_certificate_keeps_two_connects_in_flight()
    {
        var settings = Read(new { gatewayUrl = "ws://pi.local:5080/ws", deviceId = "d", token = "t" }, out var error);

        Assert.Null(error);
        Assert.False(settings!.UsesTls);
        Assert.Null(settings.TlsCertificate);
        Assert.Equal(2, settings.MaxConnectsInFlight);
    }

    [Fact]
    public void A_cluster_of_wss_gateways_shares_the_certificate_and_windows_line_ends_are_fine()
    {
        var crlf = Pem.ReplaceLineEndings("\r\n");
        var settings = Read(new { gatewayUrls = new[] { "wss://pi-a:5443/ws", "wss://pi-b:5443/ws" }, deviceId = "d", token = "t", tlsCertificate = crlf + "\r\n" }, out var error);

        Assert.Null(error);
        Assert.True(settings!.UsesTls);
        Assert.Equal(crlf.Trim() + "\n", settings.TlsCertificate);
    }

    [Fact]
    public void An_empty_certificate_counts_as_none()
    {
        var settings = Read(new { gatewayUrl = "ws://pi.local:5080/ws", deviceId = "d", token = "t", tlsCertificate = "" }, out var error);

        Assert.Null(error);
        Assert.False(settings!.UsesTls);
    }

    [Theory]
    [InlineData("wss-without-certificate", "wss://pi.local:5443/ws is wss:// and needs tlsCertificate: the gateway's certificate as PEM (tls/gateway.crt from `certs create`; flash.ps1 -TlsCertificate)")]
    [InlineData("wss-in-list-without-certificate", "wss://pi-b:5443/ws is wss:// and needs tlsCertificate: the gateway's certificate as PEM (tls/gateway.crt from `certs create`; flash.ps1 -TlsCertificate)")]
    [InlineData("certificate-with-ws", "tlsCertificate is set, so every gateway URL must be wss:// (ws://pi.local:5080/ws is not): the board does not fall back to plain ws://")]
    [InlineData("certificate-with-a-ws-in-the-list", "tlsCertificate is set, so every gateway URL must be wss:// (ws://pi-b:5080/ws is not): the board does not fall back to plain ws://")]
    [InlineData("not-text", "tlsCertificate must be the gateway's certificate as PEM text (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----, the file tls/gateway.crt that `certs create` wrote)")]
    [InlineData("fingerprint", "tlsCertificate must be the gateway's certificate as PEM text (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----, the file tls/gateway.crt that `certs create` wrote)")]
    [InlineData("private-key", "tlsCertificate holds a private key: give the certificate (gateway.crt), never the key")]
    [InlineData("two-certificates", "tlsCertificate must hold exactly one certificate")]
    [InlineData("damaged", "tlsCertificate is not a valid PEM certificate (its base64 body is damaged)")]
    [InlineData("truncated", "tlsCertificate is not a valid PEM certificate (its base64 body is damaged)")]
    public void A_wrong_tls_setting_is_refused_with_a_reason(string mistake, string expected)
    {
        object config = mistake switch
        {
            "wss-without-certificate" => new { gatewayUrl = "wss://pi.local:5443/ws", deviceId = "d", token = "t" },
            "wss-in-list-without-certificate" => new { gatewayUrls = new[] { "ws://pi-a:5080/ws", "wss://pi-b:5443/ws" }, deviceId = "d", token = "t" },
            "certificate-with-ws" => new { gatewayUrl = "ws://pi.local:5080/ws", deviceId = "d", token = "t", tlsCertificate = Pem },
            "certificate-with-a-ws-in-the-list" => new { gatewayUrls = new[] { "wss://pi-a:5443/ws", "ws://pi-b:5080/ws" }, deviceId = "d", token = "t", tlsCertificate = Pem },
            "not-text" => new { gatewayUrl = "wss://pi.local:5443/ws", deviceId = "d", token = "t", tlsCertificate = 42 },
            _ => new { gatewayUrl = "wss://pi.local:5443/ws", deviceId = "d", token = "t", tlsCertificate = BadPem(mistake) },
        };

        Assert.Null(Read(config, out var error));
        Assert.Equal(expected, error);
    }

    private static string BadPem(string mistake)
    {
        switch (mistake)
        {
            case "fingerprint":
                using (var certificate = X509Certificate2.CreateFromPem(Pem))
                    return Convert.ToHexString(SHA256.HashData(certificate.RawData));
            case "private-key":
                using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
                    return key.ExportPkcs8PrivateKeyPem();
            case "two-certificates":
                return Pem + TestCertificate.Pem("other.local");
            case "damaged":
                var lines = Pem.Split('\n');
                lines[2] = lines[2][..10] + "*" + lines[2][11..];
                return string.Join('\n', lines);
            case "truncated":
                var body = Pem.Trim().Split('\n');
                return string.Join('\n', body[0], body[1][..30], body[^1]);
            default:
                throw new ArgumentException(mistake);
        }
    }
}
