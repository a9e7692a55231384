namespace IotWs.Firmware.Core
{
    /// <summary>
    /// Reconnect delays: exponential with full jitter, delay = random(0, min(cap, base * 2^attempt)),
    /// so a fleet that lost its gateway at the same moment does not come back in lockstep.
    /// </summary>
    public class Backoff
    {
        private readonly int _baseMs;
        private readonly int _capMs;
        private readonly IRandomSource _random;
        private int _attempt;

        /// <summary>Creates a backoff with the protocol's numbers by default (1 s doubling to 60 s).</summary>
        public Backoff(int baseMs, int capMs, IRandomSource random)
        {
            _baseMs = baseMs < 1 ? 1 : baseMs;
            _capMs = capMs < _baseMs ? _baseMs : capMs;
            _random = random;
        }

        /// <summary>Failed attempts since the last successful authentication.</summary>
        public int Attempt
        {
            get { return _attempt; }
        }

        /// <summary>The largest delay (ms) it may ever return.</summary>
        public int CapMs
        {
            get { return _capMs; }
        }

        /// <summary>min(cap, base * 2^attempt) without overflowing.</summary>
        public static int CeilingMs(int attempt, int baseMs, int capMs)
        {
            long ceiling = baseMs;
            for (int i = 0; i < attempt && ceiling < capMs; i++)
            {
                ceiling *= 2;
            }
            return ceiling > capMs ? capMs : (int)ceiling;
        }

        /// <summary>The next delay with full jitter, then counts the attempt.</summary>
        public int NextDelayMs()
        {
            return NextDelayMs(0);
        }

        /// <summary>
        /// The next delay, but never below floorMs (clamped to the cap): used when the gateway asked us
        /// to go away (1013) or refused us (auth failure, replaced), where hammering helps nobody.
        /// </summary>
        public int NextDelayMs(int floorMs)
        {
            if (floorMs < 0) floorMs = 0;
            if (floorMs > _capMs) floorMs = _capMs;
            int ceiling = CeilingMs(_attempt, _baseMs, _capMs);
            if (ceiling < floorMs) ceiling = floorMs;
            if (_attempt < 30) _attempt++;
            return floorMs + _random.Next(ceiling - floorMs + 1);
        }

        /// <summary>Jumps straight to the cap, for failures that retrying soon cannot fix.</summary>
        public void Escalate()
        {
            while (CeilingMs(_attempt, _baseMs, _capMs) < _capMs && _attempt < 30)
            {
                _attempt++;
            }
        }

        /// <summary>Back to the first step, after a successful authentication.</summary>
        public void Reset()
        {
            _attempt = 0;
        }
    }
}
