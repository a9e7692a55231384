using System.Collections;
using IotWs.Protocol;

namespace IotWs.Firmware.Core
{
    /// <summary>What the device logic is configured with: identity, gateway, intervals and limits.</summary>
    public class DeviceSettings
    {
        /// <summary>The DHT22 cannot be read faster than every 2 s.</summary>
        public const int MinReadingIntervalMs = 2000;
        public const int MaxReadingIntervalMs = 3600000;
        public const int MinHeartbeatIntervalMs = 5000;
        public const int MaxHeartbeatIntervalMs = 600000;

        /// <summary>Most gateway URLs a device takes (config.json gatewayUrls).</summary>
        public const int MaxGatewayUrls = 8;

        /// <summary>Connect threads that may exist at once over plain ws:// (see <see cref="ConnectAttempts"/>).</summary>
        public const int MaxConnectsInFlightPlain = 2;

        /// <summary>Over wss:// only one: each TLS connection holds about 33 KB of buffers on an ESP32.</summary>
        public const int MaxConnectsInFlightTls = 1;

        /// <summary>ws:// or wss:// URL of the gateway's /ws endpoint (the only one, or the first of <see cref="GatewayUrls"/>).</summary>
        public string GatewayUrl;

        /// <summary>
        /// The gateways of a cluster, tried in order: on a failed connect or a close of 1001, 1006 or
        /// 1013 the device moves to the next. Null or empty means just <see cref="GatewayUrl"/>.
        /// </summary>
        public string[] GatewayUrls;

        /// <summary>
        /// The gateway's certificate as PEM text (config.json tlsCertificate), or null. Set exactly when
        /// every gateway URL is wss://: the board then trusts only this certificate (the gateway's
        /// self-signed one from `certs create`, or the root of a CA-signed chain) and never talks in the
        /// clear, so its token cannot leak through a ws:// fallback.
        /// </summary>
        public string TlsCertificate;

        /// <summary>The device id the token was issued for.</summary>
        public string DeviceId;

        /// <summary>The device token (secret).</summary>
        public string Token;

        /// <summary>The sensor_id field of readings; the device id plus "_DHT22" unless configured.</summary>
        public string SensorId;

        /// <summary>Optional location label sent with readings.</summary>
        public string Location;

        public int ReadingIntervalMs = 2000;

        /// <summary>
        /// How often a failed sensor read is tried again before the next reading is due; 0 (the boards'
        /// default) waits for the next reading. The gateway's Pi-attached sensors use it.
        /// </summary>
        public int SensorRetries;

        /// <summary>Delay before such a retry; never under <see cref="MinReadingIntervalMs"/>.</summary>
        public int SensorRetryMs = MinReadingIntervalMs;
        public int HeartbeatIntervalMs = ProtocolInfo.DefaultHeartbeatIntervalMs;

        /// <summary>Readings kept while the gateway has not acknowledged them.</summary>
        public int BufferCapacity = 500;

        /// <summary>Readings per batch message when replaying a backlog.</summary>
        public int BatchSize = 20;

        /// <summary>Readings sent but not yet acknowledged, at most.</summary>
        public int MaxInFlight = 40;

        /// <summary>An unacknowledged reading is sent again after this long.</summary>
        public int AckTimeoutMs = 10000;

        public int ConnectTimeoutMs = 15000;

        /// <summary>From link open to auth_response.</summary>
        public int HandshakeTimeoutMs = 15000;

        public int BackoffBaseMs = 1000;
        public int BackoffCapMs = 60000;

        /// <summary>Auth failure or being replaced: wait at least this long before trying again.</summary>
        public int RefusedFloorMs = 30000;

        /// <summary>Close 1013 (gateway full or shutting down): wait at least this long.</summary>
        public int TryAgainLaterFloorMs = 5000;

        /// <summary>The reboot endpoint answers, then restarts after this delay.</summary>
        public int RebootDelayMs = 3000;

        public int IdentifyDurationMs = 5000;

        /// <summary>Messages received but not yet processed, at most (the receive thread never blocks).</summary>
        public int InboxCapacity = 64;

        /// <summary>The sensor_id to send.</summary>
        public string EffectiveSensorId
        {
            get
            {
                if (SensorId != null && SensorId.Length > 0) return SensorId;
                return DeviceId + "_DHT22";
            }
        }

        /// <summary>The URLs to try, in order: <see cref="GatewayUrls"/> when set, otherwise the one <see cref="GatewayUrl"/>.</summary>
        public string[] EffectiveGatewayUrls
        {
            get
            {
                if (GatewayUrls != null && GatewayUrls.Length > 0) return GatewayUrls;
                return new string[] { GatewayUrl };
            }
        }

        /// <summary>True when the board connects over TLS (wss://, pinned to <see cref="TlsCertificate"/>).</summary>
        public bool UsesTls
        {
            get { return TlsCertificate != null; }
        }

        /// <summary>Connect threads allowed at once: one over TLS (its buffers are large), two otherwise.</summary>
        public int MaxConnectsInFlight
        {
            get { return UsesTls ? MaxConnectsInFlightTls : MaxConnectsInFlightPlain; }
        }

        /// <summary>True for a wss:// URL.</summary>
        public static bool IsTlsUrl(string url)
        {
            return url != null && StartsWith(url, "wss://");
        }

        /// <summary>True for a ws:// or wss:// URL with a host.</summary>
        public static bool IsGatewayUrl(string url)
        {
            if (url == null) return false;
            string rest;
            if (StartsWith(url, "ws://")) rest = url.Substring(5);
            else if (StartsWith(url, "wss://")) rest = url.Substring(6);
            else return false;
            return rest.Length > 0 && rest[0] != '/' && rest[0] != ':';
        }

        /// <summary>Null when a reading interval is acceptable, otherwise why not.</summary>
        public static string CheckReadingInterval(long ms)
        {
            if (ms < MinReadingIntervalMs || ms > MaxReadingIntervalMs)
                return Fields.ReadingIntervalMs + " must be between " + MinReadingIntervalMs + " and " + MaxReadingIntervalMs;
            return null;
        }

        /// <summary>Null when a heartbeat interval is acceptable, otherwise why not.</summary>
        public static string CheckHeartbeatInterval(long ms)
        {
            if (ms < MinHeartbeatIntervalMs || ms > MaxHeartbeatIntervalMs)
                return Fields.HeartbeatIntervalMs + " must be between " + MinHeartbeatIntervalMs + " and " + MaxHeartbeatIntervalMs;
            return null;
        }

        /// <summary>
        /// Reads the settings the device logic needs from a parsed config.json (see ConfigKeys).
        /// Returns null and sets error when a required key is missing or a value is out of range.
        /// </summary>
        public static DeviceSettings FromConfig(Hashtable config, out string error)
        {
            error = null;
            DeviceSettings s = new DeviceSettings();
            s.GatewayUrl = WireValues.GetString(config, ConfigKeys.GatewayUrl);
            if (config.Contains(ConfigKeys.GatewayUrls))
            {
                // A cluster's list; gatewayUrl (older firmware reads only that) may sit next to it.
                ArrayList list = config[ConfigKeys.GatewayUrls] as ArrayList;
                if (list == null || list.Count == 0 || list.Count > MaxGatewayUrls)
                {
                    error = ConfigKeys.GatewayUrls + " must be a list of 1 to " + MaxGatewayUrls + " ws:// or wss:// URLs";
                    return null;
                }
                s.GatewayUrls = new string[list.Count];
                for (int i = 0; i < list.Count; i++)
                {
                    string url = list[i] as string;
                    if (!IsGatewayUrl(url))
                    {
                        error = ConfigKeys.GatewayUrls + "[" + i + "] must be a ws:// or wss:// URL";
                        return null;
                    }
                    s.GatewayUrls[i] = url;
                }
                if (s.GatewayUrl == null) s.GatewayUrl = s.GatewayUrls[0];
            }
            s.DeviceId = WireValues.GetString(config, ConfigKeys.DeviceId);
            s.Token = WireValues.GetString(config, ConfigKeys.Token);
            s.SensorId = WireValues.GetString(config, ConfigKeys.SensorId);
            s.Location = WireValues.GetString(config, ConfigKeys.Location);
            if (!IsGatewayUrl(s.GatewayUrl))
            {
                error = ConfigKeys.GatewayUrl + " must be a ws:// or wss:// URL";
                return null;
            }
            error = ReadTls(config, s);
            if (error != null) return null;
            if (s.DeviceId == null || s.DeviceId.Length == 0)
            {
                error = ConfigKeys.DeviceId + " is required";
                return null;
            }
            if (s.Token == null || s.Token.Length == 0)
            {
                error = ConfigKeys.Token + " is required";
                return null;
            }
            int value;
            if (config.Contains(ConfigKeys.ReadingIntervalMs))
            {
                if (!WireValues.TryGetInt(config[ConfigKeys.ReadingIntervalMs], out value) || CheckReadingInterval(value) != null)
                {
                    error = CheckReadingInterval(-1);
                    return null;
                }
                s.ReadingIntervalMs = value;
            }
            if (config.Contains(ConfigKeys.HeartbeatIntervalMs))
            {
                if (!WireValues.TryGetInt(config[ConfigKeys.HeartbeatIntervalMs], out value) || CheckHeartbeatInterval(value) != null)
                {
                    error = CheckHeartbeatInterval(-1);
                    return null;
                }
                s.HeartbeatIntervalMs = value;
            }
            if (config.Contains(ConfigKeys.BufferCapacity))
            {
                if (!WireValues.TryGetInt(config[ConfigKeys.BufferCapacity], out value) || value < 1 || value > 5000)
                {
                    error = ConfigKeys.BufferCapacity + " must be between 1 and 5000";
                    return null;
                }
                s.BufferCapacity = value;
            }
            return s;
        }

        // tlsCertificate and wss:// go together: a wss:// URL without a certificate would have nothing to
        // verify the gateway against, and a certificate next to a ws:// URL would promise a protection
        // that URL does not give. Both are refused, naming the URL.
        private static string ReadTls(Hashtable config, DeviceSettings s)
        {
            if (config.Contains(ConfigKeys.TlsCertificate) && config[ConfigKeys.TlsCertificate] != null)
            {
                string pem = config[ConfigKeys.TlsCertificate] as string;
                if (pem == null || pem.Length > 0)
                {
                    string invalid = PemCertificate.Check(ConfigKeys.TlsCertificate, pem);
                    if (invalid != null) return invalid;
                    s.TlsCertificate = pem.Trim() + "\n";
                }
            }
            string[] urls = s.EffectiveGatewayUrls;
            for (int i = 0; i < urls.Length; i++)
            {
                bool tls = IsTlsUrl(urls[i]);
                if (tls && !s.UsesTls)
                    return urls[i] + " is wss:// and needs " + ConfigKeys.TlsCertificate + ": the gateway's certificate as PEM (tls/gateway.crt from `certs create`; flash.ps1 -TlsCertificate)";
                if (!tls && s.UsesTls)
                    return ConfigKeys.TlsCertificate + " is set, so every gateway URL must be wss:// (" + urls[i] + " is not): the board does not fall back to plain ws://";
            }
            return null;
        }

        private static bool StartsWith(string text, string prefix)
        {
            return text.Length >= prefix.Length && text.Substring(0, prefix.Length) == prefix;
        }
    }

    /// <summary>Keys of I:\config.json on the device (written by flash.ps1).</summary>
    public static class ConfigKeys
    {
        public const string WifiSsid = "wifiSsid";
        public const string WifiPassword = "wifiPassword";
        public const string GatewayUrl = "gatewayUrl";
        public const string GatewayUrls = "gatewayUrls";
        public const string DeviceId = "deviceId";
        public const string Token = "token";
        public const string SensorId = "sensorId";
        public const string Location = "location";
        public const string ReadingIntervalMs = "readingIntervalMs";
        public const string HeartbeatIntervalMs = "heartbeatIntervalMs";
        public const string BufferCapacity = "bufferCapacity";

        /// <summary>The gateway's certificate as PEM text; required with wss:// URLs, refused with ws:// ones.</summary>
        public const string TlsCertificate = "tlsCertificate";
        public const string DhtEchoPin = "dhtEchoPin";
        public const string DhtTriggerPin = "dhtTriggerPin";
        public const string LedPin = "ledPin";
    }

    /// <summary>Keys the core keeps in <see cref="IStore"/>.</summary>
    public static class StoreKeys
    {
        /// <summary>The last boot number; incremented at every start.</summary>
        public const string BootId = "bootId";

        /// <summary>Set by set_interval; overrides config.json.</summary>
        public const string ReadingIntervalMs = "readingIntervalMs";

        /// <summary>Set by set_interval; overrides config.json.</summary>
        public const string HeartbeatIntervalMs = "heartbeatIntervalMs";

        /// <summary>Unacknowledged readings saved before a controlled reboot.</summary>
        public const string Spill = "spill";
    }
}
