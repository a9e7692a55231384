namespace IotWs.Firmware.Core
{
    /// <summary>
    /// Checks the text of config.json's tlsCertificate before the board relies on it: exactly one PEM
    /// certificate (what `certs create` stores as tls/gateway.crt), and not a private key. The TLS stack
    /// (mbedTLS on the ESP32) parses it for real; this only turns the likely mistakes into a clear reason
    /// at boot, instead of a wss:// connect that fails every time.
    /// </summary>
    public static class PemCertificate
    {
        public const string Begin = "-----BEGIN CERTIFICATE-----";
        public const string End = "-----END CERTIFICATE-----";

        /// <summary>A PEM certificate this long is already absurd for a gateway's own certificate (typically ~1 KB).</summary>
        public const int MaxLength = 16384;

        /// <summary>
        /// Null when text holds one PEM certificate (surrounding whitespace allowed), otherwise why not,
        /// prefixed with name (the config key).
        /// </summary>
        public static string Check(string name, string text)
        {
            string usage = name + " must be the gateway's certificate as PEM text (" + Begin + " … " + End + ", the file tls/gateway.crt that `certs create` wrote)";
            if (text == null) return usage;
            if (text.Length > MaxLength) return name + " is longer than " + MaxLength + " characters; " + usage;
            if (text.IndexOf("PRIVATE KEY") >= 0) return name + " holds a private key: give the certificate (gateway.crt), never the key";
            string pem = text.Trim();
            if (!pem.StartsWith(Begin) || !pem.EndsWith(End)) return usage;
            string body = pem.Substring(Begin.Length, pem.Length - Begin.Length - End.Length);
            if (body.IndexOf("-----") >= 0) return name + " must hold exactly one certificate";
            return CheckBase64(name, body);
        }

        // The body between the markers: base64 in lines, padding only at the end, and a DER SEQUENCE
        // (every X.509 certificate starts with the byte 0x30, whose base64 starts with 'M').
        private static string CheckBase64(string name, string body)
        {
            string broken = name + " is not a valid PEM certificate (its base64 body is damaged)";
            int count = 0;
            int padding = 0;
            char first = '\0';
            for (int i = 0; i < body.Length; i++)
            {
                char c = body[i];
                if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
                if (c == '=')
                {
                    padding++;
                    if (padding > 2) return broken;
                }
                else if (padding > 0 || !IsBase64Digit(c))
                {
                    return broken;
                }
                if (count == 0) first = c;
                count++;
            }
            if (count < 64 || count % 4 != 0 || first != 'M') return broken;
            return null;
        }

        private static bool IsBase64Digit(char c)
        {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        }
    }
}
