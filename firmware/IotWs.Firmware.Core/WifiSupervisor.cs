namespace IotWs.Firmware.Core
{
    /// <summary>
    /// Keeps the board on WiFi without wearing its flash. It joins once (a join stores the
    /// credentials: a flash write), then relies on the driver's automatic reconnection and only
    /// waits for it, with backoff between waits. A further join, for a driver that gave up, happens
    /// at most once per <see cref="MinJoinIntervalMs"/>, never in a loop. Every failure is logged with
    /// the radio's status.
    /// </summary>
    public class WifiSupervisor
    {
        /// <summary>How long a join may take (the helper's default would wait forever).</summary>
        public const int JoinTimeoutMs = 60000;

        /// <summary>How long one wait for the driver's reconnection lasts.</summary>
        public const int WaitTimeoutMs = 20000;

        /// <summary>With the credentials already on flash, how long to wait for the driver before joining anyway.</summary>
        public const int JoinStoredAfterMs = 120000;

        /// <summary>At most one join (flash write) per this long while offline.</summary>
        public const int MinJoinIntervalMs = 1800000;

        /// <summary>How often an online link is looked at.</summary>
        public const int CheckIntervalMs = 1000;

        /// <summary>Backoff between failed waits: 5 s doubling to 2 min, with full jitter.</summary>
        public const int BackoffBaseMs = 5000;
        public const int BackoffCapMs = 120000;

        private readonly string _ssid;
        private readonly string _password;
        private readonly IWifiRadio _radio;
        private readonly IClock _clock;
        private readonly ILog _log;
        private readonly Backoff _backoff;

        private bool _started;
        private bool _holdsCredentials;
        private bool _online;
        private long _startedAt;
        private long _lastJoinAt;
        private long _nextStepAt;
        private long _joins;
        private long _waits;
        private long _drops;

        /// <summary>Creates a supervisor for one network; nothing happens before the first <see cref="Step"/>.</summary>
        public WifiSupervisor(string ssid, string password, IWifiRadio radio, IClock clock, IRandomSource random, ILog log)
        {
            _ssid = ssid;
            _password = password;
            _radio = radio;
            _clock = clock;
            _log = log;
            _backoff = new Backoff(BackoffBaseMs, BackoffCapMs, random);
        }

        /// <summary>True while the board has an address (as of the last step).</summary>
        public bool IsOnline
        {
            get { return _online; }
        }

        /// <summary>Joins made since boot: each one wrote the credentials to flash.</summary>
        public long Joins
        {
            get { return _joins; }
        }

        /// <summary>Waits for the driver's own reconnection since boot.</summary>
        public long Waits
        {
            get { return _waits; }
        }

        /// <summary>Times the address went away after the board had one.</summary>
        public long Drops
        {
            get { return _drops; }
        }

        /// <summary>Milliseconds until the next step has something to do (0 when due).</summary>
        public long MsUntilNextStep
        {
            get
            {
                long rest = _nextStepAt - _clock.TickCount;
                return rest > 0 ? rest : 0;
            }
        }

        /// <summary>
        /// Looks at the link and, when offline and due, makes one radio call: a join when allowed,
        /// otherwise a wait. Blocks for as long as that call (at most its timeout).
        /// </summary>
        public void Step()
        {
            long now = _clock.TickCount;
            if (!_started)
            {
                _started = true;
                _startedAt = now;
                _holdsCredentials = _radio.HoldsCredentials(_ssid, _password);
                _log.Info(_holdsCredentials
                    ? "wifi: credentials for " + _ssid + " already on flash; waiting for the driver to join"
                    : "wifi: joining " + _ssid);
            }
            if (now < _nextStepAt) return;

            if (_radio.HasAddress)
            {
                if (!_online) _log.Info("wifi: online");
                Online(now);
                return;
            }
            if (_online)
            {
                _online = false;
                _drops++;
                _log.Warn("wifi: address lost; waiting for the driver to reconnect");
            }

            bool join = ShouldJoin(now);
            bool ok;
            if (join)
            {
                _joins++;
                _lastJoinAt = now;
                ok = _radio.Join(_ssid, _password, JoinTimeoutMs);
            }
            else
            {
                _waits++;
                ok = _radio.WaitForReconnect(WaitTimeoutMs);
            }

            long after = _clock.TickCount;
            if (ok)
            {
                _log.Info(join ? "wifi: joined " + _ssid : "wifi: the driver reconnected");
                Online(after);
                return;
            }
            int delay = _backoff.NextDelayMs();
            _nextStepAt = after + delay;
            _log.Warn("wifi: " + (join ? "join" : "wait for reconnection") + " failed (" + _radio.LastStatus + "); next try in " + delay + " ms");
        }

        private void Online(long now)
        {
            _online = true;
            _backoff.Reset();
            _nextStepAt = now + CheckIntervalMs;
        }

        // Joining writes flash, so it is rationed: the first one at once unless flash already holds the
        // credentials (then only if the driver has not joined after a while), later ones far apart.
        private bool ShouldJoin(long now)
        {
            if (_joins == 0) return !_holdsCredentials || now - _startedAt >= JoinStoredAfterMs;
            return now - _lastJoinAt >= MinJoinIntervalMs;
        }
    }
}
