namespace IotWs.Firmware.Core
{
    /// <summary>
    /// Connects that run on their own thread, so a blocking connect cannot stall the loop. The core's
    /// connect timeout abandons an attempt (the loop moves on, to the next gateway URL); the thread
    /// still ends whenever the network stack gives up, and its result is then thrown away. At most
    /// <see cref="MaxInFlight"/> attempts may be running, so a gateway that accepts TCP and never
    /// answers cannot pile up threads and sockets: <see cref="DeviceSettings.MaxConnectsInFlight"/>, two
    /// over ws:// and one over wss://, where each connection holds about 33 KB of TLS buffers.
    /// Thread-safe: attempts finish on their own threads.
    /// </summary>
    public class ConnectAttempts
    {
        private readonly object _lock = new object();
        private readonly int _maxInFlight;
        private int _inFlight;
        private int _current;
        private int _lastTicket;
        private long _abandoned;
        private long _refused;

        /// <summary>Allows at most maxInFlight attempts running at once (at least 1).</summary>
        public ConnectAttempts(int maxInFlight)
        {
            _maxInFlight = maxInFlight < 1 ? 1 : maxInFlight;
        }

        /// <summary>The most attempts that may run at once.</summary>
        public int MaxInFlight
        {
            get { return _maxInFlight; }
        }

        /// <summary>Attempts whose thread has not returned yet (current or abandoned).</summary>
        public int InFlight
        {
            get
            {
                lock (_lock) return _inFlight;
            }
        }

        /// <summary>Attempts given up before they finished (their result was or will be discarded).</summary>
        public long Abandoned
        {
            get
            {
                lock (_lock) return _abandoned;
            }
        }

        /// <summary>Connects refused because too many attempts were still running.</summary>
        public long Refused
        {
            get
            {
                lock (_lock) return _refused;
            }
        }

        /// <summary>
        /// Starts an attempt and makes it the current one; any earlier unfinished attempt is abandoned.
        /// Returns its ticket, or 0 when <see cref="MaxInFlight"/> attempts are still running.
        /// </summary>
        public int Begin()
        {
            lock (_lock)
            {
                if (_inFlight >= _maxInFlight)
                {
                    _refused++;
                    return 0;
                }
                if (_current != 0) _abandoned++;
                _inFlight++;
                _lastTicket++;
                if (_lastTicket <= 0) _lastTicket = 1;
                _current = _lastTicket;
                return _current;
            }
        }

        /// <summary>The current attempt is given up (connect timeout, close): its result will be discarded.</summary>
        public void Abandon()
        {
            lock (_lock)
            {
                if (_current == 0) return;
                _current = 0;
                _abandoned++;
            }
        }

        /// <summary>
        /// An attempt's thread returned. True when it is still the current attempt, whose result the
        /// core waits for; false when it was abandoned, and its socket is only to be disposed.
        /// </summary>
        public bool Finish(int ticket)
        {
            lock (_lock)
            {
                if (_inFlight > 0) _inFlight--;
                if (ticket == 0 || ticket != _current) return false;
                _current = 0;
                return true;
            }
        }
    }
}
