using System.Diagnostics;
using System.Text;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;

namespace IotWs.Firmware.Tests;

/// <summary>Where PowerShell 7 is: $IOTWS_PWSH, the repository's .tools/pwsh (test.sh installs it there), or pwsh on PATH.</summary>
internal static class Pwsh
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IotWs.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("IotWs.sln not found above " + AppContext.BaseDirectory);
    }

    public static string? Find()
    {
        var exe = OperatingSystem.IsWindows() ? "pwsh.exe" : "pwsh";
        var configured = Environment.GetEnvironmentVariable("IOTWS_PWSH");
        if (!string.IsNullOrEmpty(configured) && File.Exists(configured)) return configured;
        var tool = Path.Combine(RepoRoot(), ".tools", exe);
        if (File.Exists(tool)) return tool;
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, exe)).FirstOrDefault(File.Exists);
    }
}

/// <summary>A test that needs pwsh: skipped with the reason where it is missing, failed instead under CI=true.</summary>
public sealed class PwshFactAttribute : FactAttribute
{
    public PwshFactAttribute()
    {
        if (Pwsh.Find() is null && !Pwsh.IsCi)
            Skip = "pwsh (PowerShell 7) not found: ./test.sh installs it into .tools/ (dotnet tool install --tool-path .tools PowerShell --version 7.6.9). With CI=true this test fails instead.";
    }
}

/// <summary>The theory form of <see cref="PwshFactAttribute"/>.</summary>
public sealed class PwshTheoryAttribute : TheoryAttribute
{
    public PwshTheoryAttribute()
    {
        if (Pwsh.Find() is null && !Pwsh.IsCi)
            Skip = "pwsh (PowerShell 7) not found: ./test.sh installs it into .tools/. With CI=true this test fails instead.";
    }
}

/// <summary>flash.ps1 run for real by PowerShell 7: -WhatIf for the steps, -WriteConfig for the file the board gets.</summary>
public sealed class FlashScriptTests : IDisposable
{
    private const string Password = "wifi-SECRET-pä/ss\"word";
    private const string Token = "tok-SECRET-5f2a9c";
    private readonly string _dir = Directory.CreateTempSubdirectory("iotws-flash-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string TokensFile(params string[] deviceIds)
    {
        var path = Path.Combine(_dir, "devices.jsonl");
        File.WriteAllLines(path, deviceIds.Select((id, i) => $$"""{"deviceId":"{{id}}","token":"{{(i == 0 ? Token : Token + i)}}"}"""));
        return path;
    }

    private sealed record Run(int ExitCode, string Stdout, string Stderr)
    {
        public string All => Stdout + Stderr;
    }

    private Run Flash(params string[] args)
    {
        var pwsh = Pwsh.Find() ?? throw new InvalidOperationException("pwsh is missing and CI=true: ./test.sh installs it into .tools/ (PowerShell 7.6.9 as a .NET tool)");
        var start = new ProcessStartInfo(pwsh)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in (string[])["-NoProfile", "-NonInteractive", "-File", Path.Combine(Pwsh.RepoRoot(), "flash.ps1"), .. args]) start.ArgumentList.Add(a);
        start.Environment["IOTWS_WIFI_PASSWORD"] = Password;
        start.Environment.Remove("IOTWS_WIFI_SSID");
        start.Environment["NO_COLOR"] = "1";
        start.Environment["TERM"] = "dumb";
        start.Environment["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "flash.ps1 did not finish");
        return new Run(process.ExitCode, stdout, stderr.Result);
    }

    private static readonly string[] Steps =
    [
        "Flash the nanoFramework runtime", "Restore NuGet packages", "Build the firmware (Release)",
        "Deploy the application", "Upload config.json", "Reset the board",
    ];

    /// <summary>The operations of the "What if:" lines, in order.</summary>
    private static List<string> WhatIfOperations(string output) =>
        [.. output.Split('\n').Select(l => l.Trim())
            .Where(l => l.StartsWith("What if: Performing the operation \"", StringComparison.Ordinal))
            .Select(l => l["What if: Performing the operation \"".Length..l.IndexOf("\" on target", StringComparison.Ordinal)])];

    [PwshFact]
    public void WhatIf_prints_every_step_in_order_with_the_config_fields_and_no_secret()
    {
        var run = Flash("-SerialPort", "/dev/ttyUSB0", "-GatewayUrl", "ws://192.168.1.50:5080/ws", "-TokensFile", TokensFile("esp32-kitchen"),
            "-WifiSsid", "home", "-Location", "kitchen", "-ReadingIntervalMs", "5000", "-WhatIf");

        Assert.True(run.ExitCode == 0, run.All);
        var operations = WhatIfOperations(run.Stdout);
        // nanoff is installed first where it is missing (it is not served here, so usually it is).
        if (operations.FirstOrDefault() == "Install nanoff") operations.RemoveAt(0);
        Assert.Equal(Steps, operations);
        Assert.Contains("--serialport /dev/ttyUSB0 --update", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("--deploy --image ", run.Stdout, StringComparison.Ordinal);

        var upload = run.Stdout.Split('\n').Single(l => l.Contains("\"Upload config.json\"", StringComparison.Ordinal));
        foreach (var field in (string[])["wifiSsid=home", "wifiPassword=***", "gatewayUrl=ws://192.168.1.50:5080/ws", "gatewayUrls=ws://192.168.1.50:5080/ws",
                     "deviceId=esp32-kitchen", "token=***", "readingIntervalMs=5000", "heartbeatIntervalMs=30000", "dhtEchoPin=12", "dhtTriggerPin=14", "ledPin=2", "location=kitchen"])
            Assert.Contains(field, upload, StringComparison.Ordinal);

        Assert.DoesNotContain("SECRET", run.All, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, run.All, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, run.All, StringComparison.Ordinal);
    }

    [PwshFact]
    public void Several_gateway_urls_become_the_gateway_url_list_of_the_config()
    {
        var run = Flash("-SerialPort", "COM5", "-GatewayUrl", "ws://pi-a.local:5080/ws,ws://pi-b.local:5080/ws", "-TokensFile", TokensFile("esp32-attic"),
            "-WifiSsid", "home", "-SkipRuntime", "-SkipBuild", "-WhatIf");

        Assert.True(run.ExitCode == 0, run.All);
        Assert.Equal(["Deploy the application", "Upload config.json", "Reset the board"], WhatIfOperations(run.Stdout).Where(o => o != "Install nanoff"));
        Assert.Contains("gatewayUrl=ws://pi-a.local:5080/ws, gatewayUrls=ws://pi-a.local:5080/ws,ws://pi-b.local:5080/ws", run.Stdout, StringComparison.Ordinal);
    }

    [PwshTheory]
    [InlineData("several", "flash.ps1: Tokens file devices.jsonl lists 3 devices (esp32-a, esp32-b, esp32-c): pass -DeviceId to say which board this is")]
    [InlineData("unknown", "flash.ps1: No device 'esp32-x' in devices.jsonl; it lists: esp32-a, esp32-b, esp32-c")]
    [InlineData("no-device-id", "flash.ps1: Device id missing: pass -DeviceId, or -TokensFile with the line of this board")]
    [InlineData("http-url", "flash.ps1: GatewayUrl 'http://192.168.1.50:5080/ws' is not a ws:// or wss:// URL (e.g. ws://192.168.1.50:5080/ws)")]
    [InlineData("not-a-url", "flash.ps1: GatewayUrl 'pi.local' is not a ws:// or wss:// URL (e.g. ws://192.168.1.50:5080/ws)")]
    [InlineData("bad-second-url", "flash.ps1: GatewayUrl 'ws://' is not a ws:// or wss:// URL (e.g. ws://192.168.1.50:5080/ws)")]
    [InlineData("no-ssid", "flash.ps1: WiFi SSID missing: pass -WifiSsid or set IOTWS_WIFI_SSID")]
    public void A_mistake_stops_the_script_with_one_clear_line_before_any_step(string mistake, string expected)
    {
        TokensFile("esp32-a", "esp32-b", "esp32-c");
        var args = new List<string> { "-SerialPort", "/dev/ttyUSB0", "-WhatIf" };
        var url = "ws://192.168.1.50:5080/ws";
        var ssid = true;
        switch (mistake)
        {
            case "several": args.AddRange(["-TokensFile", "devices.jsonl"]); break;
            case "unknown": args.AddRange(["-TokensFile", "devices.jsonl", "-DeviceId", "esp32-x"]); break;
            case "no-device-id": args.AddRange(["-TokensFile", "missing.jsonl"]); break;
            case "http-url": url = "http://192.168.1.50:5080/ws"; break;
            case "not-a-url": url = "pi.local"; break;
            case "bad-second-url": url = "ws://a/ws,ws://"; break;
            case "no-ssid": ssid = false; args.AddRange(["-TokensFile", "devices.jsonl", "-DeviceId", "esp32-a"]); break;
        }
        args.AddRange(["-GatewayUrl", url]);
        if (ssid) args.AddRange(["-WifiSsid", "home"]);

        var run = Flash([.. args]);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(expected, run.Stderr.Trim());
        Assert.Empty(WhatIfOperations(run.Stdout));
        Assert.DoesNotContain("SECRET", run.All, StringComparison.Ordinal);
    }

    [PwshFact]
    public void The_config_it_writes_is_read_back_by_the_firmwares_own_config_parser()
    {
        var path = Path.Combine(_dir, "config.json");
        var run = Flash("-GatewayUrl", "ws://pi-a.local:5080/ws,ws://pi-b.local:5080/ws", "-TokensFile", TokensFile("esp32-kitchen"), "-WifiSsid", "home net",
            "-Location", "kitchen", "-ReadingIntervalMs", "5000", "-HeartbeatIntervalMs", "15000", "-DhtEchoPin", "25", "-DhtTriggerPin", "26", "-LedPin", "4",
            "-WriteConfig", path);

        Assert.True(run.ExitCode == 0, run.All);
        Assert.DoesNotContain("SECRET", run.All, StringComparison.Ordinal);
        var bytes = File.ReadAllBytes(path);
        var text = Encoding.UTF8.GetString(bytes);
        // nanoFramework.Json throws on "\/" and mis-decodes "\uXXXX": raw UTF-8 without BOM.
        Assert.False(bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF, "config.json starts with a BOM");
        Assert.DoesNotContain("\\u", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\/", text, StringComparison.Ordinal);

        var config = new SystemTextJsonCodec().Parse(text)!;
        var settings = DeviceSettings.FromConfig(config, out var error);

        Assert.Null(error);
        Assert.Equal(["ws://pi-a.local:5080/ws", "ws://pi-b.local:5080/ws"], settings.EffectiveGatewayUrls);
        Assert.Equal("ws://pi-a.local:5080/ws", settings.GatewayUrl);
        Assert.Equal("esp32-kitchen", settings.DeviceId);
        Assert.Equal(Token, settings.Token);
        Assert.Equal("kitchen", settings.Location);
        Assert.Equal(5000, settings.ReadingIntervalMs);
        Assert.Equal(15000, settings.HeartbeatIntervalMs);
        // What Program.cs reads itself.
        Assert.Equal("home net", WireValues.GetString(config, ConfigKeys.WifiSsid));
        Assert.Equal(Password, WireValues.GetString(config, ConfigKeys.WifiPassword));
        Assert.True(WireValues.TryGetInt(config[ConfigKeys.DhtEchoPin], out var echo) && echo == 25);
        Assert.True(WireValues.TryGetInt(config[ConfigKeys.DhtTriggerPin], out var trigger) && trigger == 26);
        Assert.True(WireValues.TryGetInt(config[ConfigKeys.LedPin], out var led) && led == 4);
    }

    [PwshFact]
    public void A_single_gateway_url_is_written_so_older_firmware_reads_it_too()
    {
        var path = Path.Combine(_dir, "config.json");
        var run = Flash("-GatewayUrl", "ws://192.168.1.50:5080/ws", "-TokensFile", TokensFile("esp32-kitchen"), "-WifiSsid", "home", "-WriteConfig", path);

        Assert.True(run.ExitCode == 0, run.All);
        var config = new SystemTextJsonCodec().Parse(File.ReadAllText(path))!;
        Assert.Equal("ws://192.168.1.50:5080/ws", WireValues.GetString(config, ConfigKeys.GatewayUrl));
        var settings = DeviceSettings.FromConfig(config, out var error);
        Assert.Null(error);
        Assert.Equal(["ws://192.168.1.50:5080/ws"], settings.EffectiveGatewayUrls);
    }

    private string CertificateFile(string name = "gateway.crt", string? text = null)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text ?? TestCertificate.Pem("pi.local"));
        return path;
    }

    private static string Fingerprint(string pemFile)
    {
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(pemFile);
        return string.Join(':', Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.RawData)).Chunk(2).Select(c => new string(c)));
    }

    [PwshFact]
    public void With_a_tls_certificate_the_config_carries_its_pem_and_the_firmware_reads_it_back_pinned()
    {
        var certificate = CertificateFile();
        var path = Path.Combine(_dir, "config.json");
        var run = Flash("-GatewayUrl", "wss://pi-a.local:5443/ws,wss://pi-b.local:5443/ws", "-TlsCertificate", certificate, "-TokensFile", TokensFile("esp32-attic"),
            "-WifiSsid", "home", "-WriteConfig", path);

        Assert.True(run.ExitCode == 0, run.All);
        var text = File.ReadAllText(path);
        // nanoFramework.Json: the PEM's '/' and line ends must not become "\/" or "\u" escapes.
        Assert.DoesNotContain("\\u", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\\/", text, StringComparison.Ordinal);

        var settings = DeviceSettings.FromConfig(new SystemTextJsonCodec().Parse(text)!, out var error);

        Assert.True(error is null, error);
        Assert.True(settings.UsesTls);
        Assert.Equal(1, settings.MaxConnectsInFlight);
        Assert.Equal(["wss://pi-a.local:5443/ws", "wss://pi-b.local:5443/ws"], settings.EffectiveGatewayUrls);
        Assert.Equal(File.ReadAllText(certificate).Trim().ReplaceLineEndings("\n") + "\n", settings.TlsCertificate);
        using var expected = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(certificate);
        Assert.True(CertificatePin.FromPem(settings.TlsCertificate).Matches(expected));
    }

    [PwshFact]
    public void WhatIf_shows_the_certificate_by_its_fingerprint_not_its_text()
    {
        var certificate = CertificateFile();
        var run = Flash("-SerialPort", "COM5", "-GatewayUrl", "wss://pi.local:5443/ws", "-TlsCertificate", certificate, "-TokensFile", TokensFile("esp32-attic"),
            "-WifiSsid", "home", "-SkipRuntime", "-SkipBuild", "-WhatIf");

        Assert.True(run.ExitCode == 0, run.All);
        var upload = run.Stdout.Split('\n').Single(l => l.Contains("\"Upload config.json\"", StringComparison.Ordinal));
        Assert.Contains("gatewayUrl=wss://pi.local:5443/ws", upload, StringComparison.Ordinal);
        Assert.Contains("tlsCertificate=gateway.crt (SHA-256 " + Fingerprint(certificate) + ")", upload, StringComparison.Ordinal);
        Assert.DoesNotContain("BEGIN CERTIFICATE", run.All, StringComparison.Ordinal);
        Assert.DoesNotContain(File.ReadAllLines(certificate)[1], run.All, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", run.All, StringComparison.Ordinal);
    }

    [PwshTheory]
    [InlineData("wss-without-certificate", "flash.ps1: GatewayUrl 'wss://pi.local:5443/ws' is wss:// and needs -TlsCertificate: the gateway's tls/gateway.crt (from IotWs.Gateway certs create), which the board pins")]
    [InlineData("certificate-with-ws", "flash.ps1: -TlsCertificate is given, so every GatewayUrl must be wss:// ('ws://pi-b.local:5080/ws' is not): the board does not fall back to plain ws://")]
    [InlineData("missing-file", "flash.ps1: TlsCertificate file missing.crt not found: pass the gateway's tls/gateway.crt (IotWs.Gateway certs create makes it, certs show prints its path)")]
    [InlineData("private-key", "flash.ps1: TlsCertificate gateway.key is a private key: pass the certificate (gateway.crt), never the key")]
    [InlineData("not-pem", "flash.ps1: TlsCertificate devices.jsonl is not one PEM certificate (-----BEGIN CERTIFICATE----- …): pass the gateway's tls/gateway.crt")]
    [InlineData("damaged-pem", "flash.ps1: TlsCertificate broken.crt is not one PEM certificate (-----BEGIN CERTIFICATE----- …): pass the gateway's tls/gateway.crt")]
    [InlineData("two-certificates", "flash.ps1: TlsCertificate chain.crt is not one PEM certificate (-----BEGIN CERTIFICATE----- …): pass the gateway's tls/gateway.crt")]
    public void A_tls_mistake_stops_the_script_with_one_clear_line_before_any_step(string mistake, string expected)
    {
        TokensFile("esp32-a");
        CertificateFile();
        var url = "wss://pi.local:5443/ws";
        var certificate = "gateway.crt";
        switch (mistake)
        {
            case "wss-without-certificate": certificate = ""; break;
            case "certificate-with-ws": url = "wss://pi-a.local:5443/ws,ws://pi-b.local:5080/ws"; break;
            case "missing-file": certificate = "missing.crt"; break;
            case "private-key":
                using (var key = System.Security.Cryptography.ECDsa.Create())
                    CertificateFile(certificate = "gateway.key", key.ExportPkcs8PrivateKeyPem());
                break;
            case "not-pem": certificate = "devices.jsonl"; break;
            case "damaged-pem": CertificateFile(certificate = "broken.crt", TestCertificate.Pem().Replace("M", "!", StringComparison.Ordinal)); break;
            case "two-certificates": CertificateFile(certificate = "chain.crt", TestCertificate.Pem() + TestCertificate.Pem("other.local")); break;
        }
        var args = new List<string> { "-SerialPort", "/dev/ttyUSB0", "-WhatIf", "-GatewayUrl", url, "-TokensFile", "devices.jsonl", "-WifiSsid", "home" };
        if (certificate.Length > 0) args.AddRange(["-TlsCertificate", certificate]);

        var run = Flash([.. args]);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(expected, run.Stderr.Trim());
        Assert.Empty(WhatIfOperations(run.Stdout));
    }
}
