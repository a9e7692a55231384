using System.CommandLine;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Tls;
using Microsoft.Extensions.Configuration;

namespace IotWs.Gateway.Cli;

/// <summary><c>certs create|show</c>: the gateway's self-signed TLS certificate, which devices and the simulator pin.</summary>
internal static class CertCommands
{
    public static Command Create(CliEnvironment environment)
    {
        var certs = new Command("certs", "The gateway's TLS certificate for https:// and wss:// (self-signed; devices pin it).");
        certs.Add(CreateCertificate(environment));
        certs.Add(Show(environment));
        return certs;
    }

    private static Command CreateCertificate(CliEnvironment environment)
    {
        var hosts = new Option<string[]>("--host") { Description = "Another DNS name the devices use for the gateway (repeatable); this machine's name, its .local name and localhost are always in.", HelpName = "name", AllowMultipleArgumentsPerToken = false };
        var ips = new Option<string[]>("--ip") { Description = "Another IP address of the gateway (repeatable), e.g. its public or port-forwarded address; loopback and every address of this machine are always in.", HelpName = "address" };
        var days = new Option<int>("--days") { Description = "Validity in days.", DefaultValueFactory = _ => 3650, HelpName = "N" };
        var force = new Option<bool>("--force") { Description = "Replace an existing certificate (every device pinning the old one must get the new one)." };
        var create = new Command("create", """Makes a self-signed certificate for this gateway's host names and addresses in <data-dir>/tls (the private key readable only by its owner); prints {"certificate":…,"sha256":…,…}.""")
        {
            hosts, ips, days, force,
        };
        create.SetVerbAction(environment, v =>
        {
            var (certificatePath, keyPath) = Paths(v);
            if (File.Exists(certificatePath) && !v.Value(force))
            {
                using var existing = X509CertificateLoader.LoadCertificateFromFile(certificatePath);
                throw new VerbException($"{certificatePath} exists (SHA-256 {GatewayCertificate.Fingerprint(existing)}); --force replaces it, and then every device that pins it needs the new one.");
            }
            if (v.Value(days) is < 1 or > 36500) throw new VerbException("--days must be between 1 and 36500.");
            var addresses = new List<IPAddress>(GatewayCertificate.LocalAddresses());
            foreach (var text in v.Value(ips) ?? [])
            {
                if (!IPAddress.TryParse(text, out var address)) throw new VerbException($"--ip {text}: not an IP address.");
                if (!addresses.Contains(address)) addresses.Add(address);
            }
            var names = GatewayCertificate.LocalDnsNames().Concat(v.Value(hosts) ?? []).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            foreach (var name in names)
            {
                if (Uri.CheckHostName(name) != UriHostNameType.Dns) throw new VerbException($"--host {name}: not a DNS name.");
            }
            using var certificate = GatewayCertificate.Create(names, addresses, TimeSpan.FromDays(v.Value(days)), DateTimeOffset.UtcNow);
            GatewayCertificate.Save(certificate, certificatePath, keyPath);
            return Print(v, certificate, certificatePath, keyPath);
        });
        return create;
    }

    private static Command Show(CliEnvironment environment)
    {
        var show = new Command("show", """Prints the certificate's file, SHA-256 fingerprint, names and validity as {"certificate":…,"sha256":…,…}.""");
        show.SetVerbAction(environment, v =>
        {
            var (certificatePath, keyPath) = Paths(v);
            if (!File.Exists(certificatePath)) throw new VerbException($"no certificate at {certificatePath}: run `IotWs.Gateway certs create`.");
            using var certificate = X509CertificateLoader.LoadCertificateFromFile(certificatePath);
            return Print(v, certificate, certificatePath, keyPath);
        });
        return show;
    }

    private static (string Certificate, string Key) Paths(VerbContext v)
    {
        var tls = v.Configuration.GetSection("Gateway:Tls").Get<TlsOptions>() ?? new TlsOptions();
        return tls.Paths(v.DataDirectory);
    }

    private static int Print(VerbContext v, X509Certificate2 certificate, string certificatePath, string keyPath) => v.PrintJson(new JsonObject
    {
        ["certificate"] = certificatePath,
        ["key"] = keyPath,
        ["sha256"] = GatewayCertificate.Fingerprint(certificate),
        ["dnsNames"] = new JsonArray([.. GatewayCertificate.DnsNames(certificate).Select(n => (JsonNode)n)]),
        ["ipAddresses"] = new JsonArray([.. GatewayCertificate.IpAddresses(certificate).Select(a => (JsonNode)a.ToString())]),
        ["notAfter"] = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero),
    });
}
