using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using IotWs.Simulator;

namespace IotWs.Firmware.Tests;

/// <summary>The simulator's --tls-pin: a SHA-256 fingerprint or a certificate file, for wss:// only.</summary>
public sealed class SimulatorTlsPinTests
{
    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=pin-test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    [Fact]
    public void A_fingerprint_pin_matches_only_its_certificate_in_any_spelling()
    {
        using var pinned = SelfSigned();
        using var other = SelfSigned();
        var hex = Convert.ToHexString(SHA256.HashData(pinned.RawData));
        foreach (var spelling in new[] { hex, hex.ToLowerInvariant(), string.Join(':', hex.Chunk(2).Select(c => new string(c))) })
        {
            var a = SimulatorArguments.Parse(["--url", "wss://127.0.0.1:5443/ws", "--tokens", "d.jsonl", "--tls-pin", spelling], out var error, out _);
            Assert.True(a is not null, error);
            Assert.True(a.TlsPin!.Matches(pinned));
            Assert.False(a.TlsPin.Matches(other));
        }
    }

    [Fact]
    public void A_certificate_file_pin_reads_pem()
    {
        using var pinned = SelfSigned();
        var file = Path.Combine(Path.GetTempPath(), $"pin-{Guid.NewGuid():N}.crt");
        File.WriteAllText(file, pinned.ExportCertificatePem());
        try
        {
            var a = SimulatorArguments.Parse(["--url", "wss://127.0.0.1:5443/ws", "--tokens", "d.jsonl", "--tls-pin", file], out var error, out _);
            Assert.True(a is not null, error);
            Assert.True(a.TlsPin!.Matches(pinned));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("ws://127.0.0.1:5080/ws", "AB", "neither a SHA-256 fingerprint nor a readable certificate file")]
    [InlineData("ws://127.0.0.1:5080/ws", "0000000000000000000000000000000000000000000000000000000000000000", "--tls-pin needs a wss:// --url")]
    public void A_bad_pin_is_refused_with_a_reason(string url, string pin, string reason)
    {
        Assert.Null(SimulatorArguments.Parse(["--url", url, "--tokens", "d.jsonl", "--tls-pin", pin], out var error, out _));
        Assert.Contains(reason, error);
    }
}
