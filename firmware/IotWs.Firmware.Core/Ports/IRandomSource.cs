namespace IotWs.Firmware.Core
{
    /// <summary>Randomness for backoff jitter (System.Random on both platforms; scripted in tests).</summary>
    public interface IRandomSource
    {
        /// <summary>A uniformly distributed integer in [0, maxExclusive).</summary>
        int Next(int maxExclusive);
    }
}
