using System.Security.Cryptography;
using System.Text;

namespace IotWs.Gateway.Identity;

/// <summary>Random secrets (256 bits) and their stored form (SHA-256: the secrets are random, so a slow hash adds nothing).</summary>
public static class Secrets
{
    public const string DeviceTokenPrefix = "iwd_";
    public const string ApiKeyPrefix = "iwk_";
    public const string LoginCodePrefix = "iwl_";
    public const string LoginSessionPrefix = "iws_";

    public static string NewSecret(string prefix) =>
        prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    public static bool Matches(string secret, byte[] storedHash) =>
        CryptographicOperations.FixedTimeEquals(Hash(secret), storedHash);
}
