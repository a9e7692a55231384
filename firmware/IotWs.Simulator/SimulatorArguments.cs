using System.Globalization;
using System.Text.Json;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;

namespace IotWs.Simulator;

/// <summary>The simulator's command line, parsed and checked.</summary>
internal sealed record SimulatorArguments
{
    public const string Usage = """
        Usage: IotWs.Simulator --url ws://host:5080/ws --tokens devices.jsonl [options]

          --url URL[,URL…]              gateway WebSocket endpoint (ws:// or wss://); a cluster's gateways
                                        comma-separated or as repeated --url: boards move to the next one
                                        when a connect fails or the link closes with 1001, 1006 or 1013
          --tokens FILE                 JSON lines {"deviceId":"…","token":"…"} as printed by `devices add/import`
          --interval-ms N               DHT22 read interval, at least 2000 (default 2000)
          --heartbeat-ms N              heartbeat interval, 5000..600000 (default 30000)
          --sensor-failure-rate R       share of failed sensor reads, 0..1 (default 0.02)
          --drop-link-every-s N         cut every board's link every N seconds (failure injection)
          --state-dir DIR               keep each board's boot counter and settings in DIR
          --tls-pin FILE|SHA256         wss:// only: accept only this gateway certificate, given as its file
                                        (tls/gateway.crt of the data directory) or the SHA-256 fingerprint
                                        that `certs create` prints
          --verbose                     log every board's connection events
          --help                        show this text
        """;

    /// <summary>The first gateway URL.</summary>
    public required Uri Url { get; init; }

    /// <summary>Every gateway URL, in the order given (at least one).</summary>
    public IReadOnlyList<Uri> Urls { get; init; } = [];
    public required string TokensFile { get; init; }
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(30);
    public double SensorFailureRate { get; init; } = 0.02;
    public TimeSpan? DropLinkEvery { get; init; }
    public string? StateDirectory { get; init; }
    public bool Verbose { get; init; }
    public CertificatePin? TlsPin { get; init; }

    /// <summary>Parses args; returns null with an error (or with help = true) when the simulator should not run.</summary>
    public static SimulatorArguments? Parse(IReadOnlyList<string> args, out string? error, out bool help)
    {
        error = null;
        help = false;
        var urls = new List<Uri>();
        string? tokens = null;
        long interval = 2000, heartbeat = 30000;
        double failureRate = 0.02;
        long? dropEvery = null;
        string? stateDir = null;
        CertificatePin? pin = null;
        var verbose = false;

        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string? inline = null;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (name.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }

            if (name is "--help" or "-h")
            {
                help = true;
                return null;
            }
            if (name == "--verbose")
            {
                verbose = true;
                continue;
            }

            string? value = inline;
            if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    error = $"{name} needs a value";
                    return null;
                }
                value = args[++i];
            }

            switch (name)
            {
                case "--url":
                    foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (!Uri.TryCreate(part, UriKind.Absolute, out var url) || (url.Scheme != "ws" && url.Scheme != "wss"))
                        {
                            error = "--url must be a ws:// or wss:// URL";
                            return null;
                        }
                        urls.Add(url);
                    }
                    if (urls.Count > DeviceSettings.MaxGatewayUrls)
                    {
                        error = $"--url takes at most {DeviceSettings.MaxGatewayUrls} gateways";
                        return null;
                    }
                    break;
                case "--tokens":
                    tokens = value;
                    break;
                case "--interval-ms":
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out interval) || DeviceSettings.CheckReadingInterval(interval) is not null)
                    {
                        error = "--interval-ms must be a whole number between 2000 and 3600000";
                        return null;
                    }
                    break;
                case "--heartbeat-ms":
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out heartbeat) || DeviceSettings.CheckHeartbeatInterval(heartbeat) is not null)
                    {
                        error = "--heartbeat-ms must be a whole number between 5000 and 600000";
                        return null;
                    }
                    break;
                case "--sensor-failure-rate":
                    if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out failureRate) || failureRate is < 0 or > 1 || double.IsNaN(failureRate))
                    {
                        error = "--sensor-failure-rate must be a number between 0 and 1";
                        return null;
                    }
                    break;
                case "--drop-link-every-s":
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var every) || every < 1)
                    {
                        error = "--drop-link-every-s must be a whole number of seconds, at least 1";
                        return null;
                    }
                    dropEvery = every;
                    break;
                case "--state-dir":
                    stateDir = value;
                    break;
                case "--tls-pin":
                    pin = CertificatePin.Parse(value, out var pinError);
                    if (pin is null)
                    {
                        error = "--tls-pin: " + pinError;
                        return null;
                    }
                    break;
                default:
                    error = $"unknown option {name}";
                    return null;
            }
        }

        if (urls.Count == 0 || tokens is null)
        {
            error = "--url and --tokens are required";
            return null;
        }
        if (pin is not null && urls.Any(u => u.Scheme != "wss"))
        {
            error = "--tls-pin needs a wss:// --url";
            return null;
        }
        return new SimulatorArguments
        {
            Url = urls[0],
            Urls = urls,
            TokensFile = tokens,
            Interval = TimeSpan.FromMilliseconds(interval),
            Heartbeat = TimeSpan.FromMilliseconds(heartbeat),
            SensorFailureRate = failureRate,
            DropLinkEvery = dropEvery is { } s ? TimeSpan.FromSeconds(s) : null,
            StateDirectory = stateDir,
            Verbose = verbose,
            TlsPin = pin,
        };
    }
}

/// <summary>Reads devices.jsonl: one {"deviceId","token"} object per line, blank lines allowed.</summary>
internal static class DeviceCredentialsFile
{
    public static IReadOnlyList<DeviceCredential>? Parse(IEnumerable<string> lines, out string? error)
    {
        error = null;
        var result = new List<DeviceCredential>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            string? deviceId = null, token = null;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    if (doc.RootElement.TryGetProperty("deviceId", out var d) && d.ValueKind == JsonValueKind.String) deviceId = d.GetString();
                    if (doc.RootElement.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String) token = t.GetString();
                }
            }
            catch (JsonException)
            {
                error = $"line {number}: not valid JSON";
                return null;
            }
            if (string.IsNullOrEmpty(deviceId) || string.IsNullOrEmpty(token))
            {
                error = $"line {number}: needs string fields deviceId and token";
                return null;
            }
            if (!seen.Add(deviceId))
            {
                error = $"line {number}: device {deviceId} is listed twice";
                return null;
            }
            result.Add(new DeviceCredential(deviceId, token));
        }
        if (result.Count == 0)
        {
            error = "no devices in the tokens file";
            return null;
        }
        return result;
    }
}
