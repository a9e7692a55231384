using System;
using System.Collections;
using IotWs.Protocol;

namespace IotWs.Firmware.Core
{
    /// <summary>
    /// The device logic: connection state machine, reading scheduler, offline buffer, heartbeats,
    /// watchdog and RPC. Single-threaded: the adapter calls <see cref="Tick"/> from one loop, and
    /// transports only queue reports, so tests drive it step by step with a fake clock.
    /// </summary>
    public class DeviceCore
    {
        /// <summary>The close status transports report when they do not know the peer's.</summary>
        public const int AbnormalClosure = 1006;

        private readonly DeviceSettings _settings;
        private readonly ITransport _transport;
        private readonly ISensor _sensor;
        private readonly IClock _clock;
        private readonly IStore _store;
        private readonly IDeviceControl _device;
        private readonly ILog _log;
        private readonly IJsonCodec _json;
        private readonly Inbox _inbox;
        private readonly Backoff _backoff;
        private readonly ReadingBuffer _buffer;
        private readonly ReadingUplink _uplink;
        private readonly SensorHealth _health = new SensorHealth();
        private readonly RpcDispatcher _rpc;
        private readonly MessageSender _send;
        private readonly string[] _gatewayUrls;
        private int _gatewayIndex;
        private long _failovers;

        private ConnectionState _state = ConnectionState.Disconnected;
        private bool _started;
        private bool _stopped;
        private int _generation;
        private bool _authFailed;
        private long _authRefusals;
        private bool _authenticatedThisBoot;
        private long _bootTick;
        private long _bootId;
        private long _lastSeq;
        private long _taken;
        private long _connectAttempts;
        private int _lastCloseCode;
        private int _lastBackoffMs;
        private int _announcedHeartbeatMs;
        private long _stateSince;
        private long _lastReceivedAt;
        private long _nextConnectAt;
        private long _nextReadingAt;
        // The next reading on the interval's grid; _nextReadingAt is earlier while a failed read is retried.
        private long _scheduledReadingAt;
        private long _lastReadAttemptAt = long.MinValue / 2;
        private int _retriesLeft;
        private long _nextHeartbeatAt;
        private bool _rebootPending;
        private long _rebootAt;

        /// <summary>Creates the core; nothing happens until <see cref="Start"/> or the first <see cref="Tick"/>.</summary>
        public DeviceCore(DeviceSettings settings, DevicePorts ports)
        {
            _settings = settings;
            _transport = ports.Transport;
            _sensor = ports.Sensor;
            _clock = ports.Clock;
            _store = ports.Store;
            _device = ports.Device;
            _log = ports.Log;
            _json = ports.Json;
            _inbox = new Inbox(settings.InboxCapacity);
            _backoff = new Backoff(settings.BackoffBaseMs, settings.BackoffCapMs, ports.Random);
            _buffer = new ReadingBuffer(settings.BufferCapacity);
            _uplink = new ReadingUplink(_buffer, settings);
            _rpc = new RpcDispatcher(this);
            _send = new MessageSender(Send);
            _gatewayUrls = settings.EffectiveGatewayUrls;
        }

        public ConnectionState State
        {
            get { return _state; }
        }

        /// <summary>True once authenticated on the current link.</summary>
        public bool IsRunning
        {
            get { return _state == ConnectionState.Running; }
        }

        /// <summary>True after Stop or a reboot: Tick does nothing any more.</summary>
        public bool IsStopped
        {
            get { return _stopped; }
        }

        public DeviceSettings Settings
        {
            get { return _settings; }
        }

        /// <summary>This boot's number, one more than the previous boot's (persisted).</summary>
        public long BootId
        {
            get { return _bootId; }
        }

        /// <summary>The seq of the newest reading taken in this boot (0 before the first).</summary>
        public long LastSeq
        {
            get { return _lastSeq; }
        }

        /// <summary>Readings waiting for an acknowledgement.</summary>
        public int Buffered
        {
            get { return _buffer.Count; }
        }

        /// <summary>Readings sent on the current link and not yet answered.</summary>
        public int InFlight
        {
            get { return _buffer.InFlightCount; }
        }

        /// <summary>Valid readings taken (each consumed one seq).</summary>
        public long ReadingsTaken
        {
            get { return _taken; }
        }

        public long ReadingsAcked
        {
            get { return _uplink.Acked; }
        }

        /// <summary>Readings lost because the offline buffer overflowed (oldest first).</summary>
        public long ReadingsDropped
        {
            get { return _buffer.Dropped; }
        }

        /// <summary>Readings the gateway refused (validation_failed) and that were dropped.</summary>
        public long ReadingsRejected
        {
            get { return _uplink.Rejected; }
        }

        public long ReadingsResent
        {
            get { return _uplink.Resent; }
        }

        /// <summary>Failed or implausible sensor reads since boot.</summary>
        public long SensorFailures
        {
            get { return _health.Failures; }
        }

        public long ConnectAttempts
        {
            get { return _connectAttempts; }
        }

        /// <summary>The gateway URL the next (or current) connect goes to.</summary>
        public string CurrentGatewayUrl
        {
            get { return _gatewayUrls[_gatewayIndex]; }
        }

        /// <summary>Times the device moved on to the next gateway URL.</summary>
        public long Failovers
        {
            get { return _failovers; }
        }

        /// <summary>Times the gateway refused this device's token (auth_response success:false).</summary>
        public long AuthRefusals
        {
            get { return _authRefusals; }
        }

        /// <summary>Close status of the last link that ended (0 before any).</summary>
        public int LastCloseCode
        {
            get { return _lastCloseCode; }
        }

        /// <summary>The delay chosen at the last entry into Backoff.</summary>
        public int LastBackoffMs
        {
            get { return _lastBackoffMs; }
        }

        /// <summary>Milliseconds since this boot started.</summary>
        public long UptimeMs
        {
            get { return _clock.TickCount - _bootTick; }
        }

        /// <summary>
        /// Boots: increments and saves bootId, applies intervals saved by set_interval, restores
        /// readings spilled before a controlled reboot.
        /// </summary>
        public void Start()
        {
            if (_started) return;
            _started = true;
            long now = _clock.TickCount;
            _bootTick = now;

            long previous;
            if (!WireValues.TryParseLong(SafeGet(StoreKeys.BootId), out previous) || previous < 0) previous = 0;
            _bootId = previous + 1;
            SafeSet(StoreKeys.BootId, _bootId.ToString());

            long saved;
            if (WireValues.TryParseLong(SafeGet(StoreKeys.ReadingIntervalMs), out saved) && DeviceSettings.CheckReadingInterval(saved) == null)
                _settings.ReadingIntervalMs = (int)saved;
            if (WireValues.TryParseLong(SafeGet(StoreKeys.HeartbeatIntervalMs), out saved) && DeviceSettings.CheckHeartbeatInterval(saved) == null)
                _settings.HeartbeatIntervalMs = (int)saved;

            RestoreSpill();

            _nextReadingAt = now + _settings.ReadingIntervalMs;
            _scheduledReadingAt = _nextReadingAt;
            _nextConnectAt = now;
            _state = ConnectionState.Disconnected;
            _log.Info("boot " + _bootId + " of " + _settings.DeviceId + ", " + _buffer.Count + " readings restored");
        }

        /// <summary>One step of the loop; call every few tens of milliseconds.</summary>
        public void Tick()
        {
            if (!_started) Start();
            if (_stopped) return;
            long now = _clock.TickCount;

            TransportEvent e;
            while ((e = _inbox.Take()) != null)
            {
                HandleEvent(e, now);
            }

            // Whatever the schedule says, the DHT22 is never read twice within its 2 s minimum.
            if (now >= _nextReadingAt && now - _lastReadAttemptAt >= DeviceSettings.MinReadingIntervalMs)
            {
                bool regular = now >= _scheduledReadingAt;
                _lastReadAttemptAt = now;
                bool ok = TakeReading(now);
                if (regular)
                {
                    _retriesLeft = _settings.SensorRetries;
                    _scheduledReadingAt += _settings.ReadingIntervalMs;
                    // After a long stall, do not fire a burst of catch-up reads the DHT22 cannot serve.
                    if (_scheduledReadingAt <= now) _scheduledReadingAt = now + _settings.ReadingIntervalMs;
                }
                _nextReadingAt = _scheduledReadingAt;
                // SensorRetries > 0: a failed read is tried again after SensorRetryMs (at least 2 s) instead
                // of waiting for the next reading, as long as the retry comes before it.
                if (!ok && _retriesLeft > 0)
                {
                    long retry = _settings.SensorRetryMs;
                    if (retry < DeviceSettings.MinReadingIntervalMs) retry = DeviceSettings.MinReadingIntervalMs;
                    if (now + retry < _scheduledReadingAt)
                    {
                        _retriesLeft--;
                        _nextReadingAt = now + retry;
                    }
                }
            }

            switch (_state)
            {
                case ConnectionState.Disconnected:
                case ConnectionState.Backoff:
                    if (now >= _nextConnectAt) StartConnect(now);
                    break;
                case ConnectionState.Connecting:
                    if (now - _stateSince > _settings.ConnectTimeoutMs)
                        Disconnect(now, CloseCodes.Normal, BackoffKind.Normal, "connect timed out", true);
                    break;
                case ConnectionState.AwaitWelcome:
                case ConnectionState.AwaitAuth:
                    if (now - _stateSince > _settings.HandshakeTimeoutMs)
                        Disconnect(now, CloseCodes.Normal, BackoffKind.Normal, "no welcome/auth_response in time", true);
                    break;
                case ConnectionState.Running:
                    RunConnected(now);
                    break;
            }

            if (_rebootPending && now >= _rebootAt)
            {
                _rebootPending = false;
                Shutdown(CloseCodes.GoingAway);
                _log.Info("rebooting");
                _device.Reboot();
            }
        }

        /// <summary>Closes the link and stops; buffered readings are spilled to the store.</summary>
        public void Stop()
        {
            if (_stopped) return;
            Shutdown(CloseCodes.GoingAway);
        }

        private void Shutdown(int closeCode)
        {
            SpillReadings();
            _generation++;
            try
            {
                _transport.Close(closeCode);
            }
            catch (Exception ex)
            {
                _log.Warn("close failed: " + ex.Message);
            }
            _state = ConnectionState.Disconnected;
            _stopped = true;
        }

        // ---- connection lifecycle ----

        private enum BackoffKind
        {
            Normal,
            TryAgainLater,
            Refused
        }

        private void StartConnect(long now)
        {
            _generation++;
            _connectAttempts++;
            _authFailed = false;
            _state = ConnectionState.Connecting;
            _stateSince = now;
            bool started;
            try
            {
                started = _transport.Connect(_gatewayUrls[_gatewayIndex], new ConnectionEvents(_inbox, _generation));
            }
            catch (Exception ex)
            {
                _log.Warn("connect threw: " + ex.Message);
                started = false;
            }
            if (!started) Disconnect(now, CloseCodes.Normal, BackoffKind.Normal, "connect failed", true);
        }

        private void Disconnect(long now, int closeCode, BackoffKind kind, string reason)
        {
            Disconnect(now, closeCode, kind, reason, false);
        }

        // gatewayLost: this gateway failed us (no link, no answer), so the next attempt goes to the next URL.
        private void Disconnect(long now, int closeCode, BackoffKind kind, string reason, bool gatewayLost)
        {
            // Whatever the old link still reports from now on belongs to a past generation.
            _generation++;
            try
            {
                _transport.Close(closeCode);
            }
            catch (Exception ex)
            {
                _log.Warn("close failed: " + ex.Message);
            }
            if (gatewayLost) MoveToNextGateway();
            EnterBackoff(now, kind, reason);
        }

        /// <summary>Failover: the next connect goes to the next gateway URL (round robin); one URL stays put.</summary>
        private void MoveToNextGateway()
        {
            if (_gatewayUrls.Length < 2) return;
            _gatewayIndex = (_gatewayIndex + 1) % _gatewayUrls.Length;
            _failovers++;
            _log.Info("next gateway: " + _gatewayUrls[_gatewayIndex]);
        }

        private void EnterBackoff(long now, BackoffKind kind, string reason)
        {
            int floor = 0;
            if (kind == BackoffKind.Refused)
            {
                _backoff.Escalate();
                floor = _settings.RefusedFloorMs;
            }
            else if (kind == BackoffKind.TryAgainLater)
            {
                floor = _settings.TryAgainLaterFloorMs;
            }
            int delay = _backoff.NextDelayMs(floor);
            _lastBackoffMs = delay;
            _state = ConnectionState.Backoff;
            _stateSince = now;
            _nextConnectAt = now + delay;
            _log.Info(reason + "; reconnecting in " + delay + " ms");
        }

        private void HandleEvent(TransportEvent e, long now)
        {
            if (e.Generation != _generation) return;
            if (e.Kind == TransportEventKind.Opened)
            {
                OnOpened(now);
            }
            else if (e.Kind == TransportEventKind.Closed)
            {
                OnClosed(e.CloseCode, now);
            }
            else
            {
                // The ESP32 client can deliver the welcome before Connect returns: an arriving
                // message proves the link is open.
                if (_state == ConnectionState.Connecting) OnOpened(now);
                _lastReceivedAt = now;
                Hashtable message = null;
                try
                {
                    message = _json.Parse(e.Text);
                }
                catch (Exception ex)
                {
                    _log.Warn("bad JSON from gateway: " + ex.Message);
                }
                if (message != null) HandleMessage(message, now);
            }
        }

        private void OnOpened(long now)
        {
            if (_state != ConnectionState.Connecting) return;
            _state = ConnectionState.AwaitWelcome;
            _stateSince = now;
            _lastReceivedAt = now;
        }

        private void OnClosed(int code, long now)
        {
            _lastCloseCode = code;
            _generation++;
            BackoffKind kind = BackoffKind.Normal;
            if (_authFailed || code == CloseCodes.AuthFailed || code == CloseCodes.Replaced) kind = BackoffKind.Refused;
            else if (code == CloseCodes.TryAgainLater) kind = BackoffKind.TryAgainLater;
            // Going away (restart, shutdown), lost (killed, network) or full: another gateway may take us.
            if (code == CloseCodes.GoingAway || code == AbnormalClosure || code == CloseCodes.TryAgainLater) MoveToNextGateway();
            EnterBackoff(now, kind, "link closed (" + code + ")");
        }

        private void HandleMessage(Hashtable m, long now)
        {
            string type = WireValues.GetString(m, Fields.Type);
            if (type == null) return;

            if (type == MessageTypes.Welcome)
            {
                OnWelcome(now);
            }
            else if (type == MessageTypes.HandshakeResponse)
            {
                if (!WireValues.GetBool(m, Fields.Success, true))
                    Disconnect(now, CloseCodes.Normal, BackoffKind.Normal, "handshake refused: " + WireValues.GetString(m, Fields.Error));
            }
            else if (type == MessageTypes.AuthResponse)
            {
                OnAuthResponse(m, now);
            }
            else if (type == MessageTypes.DataResponse)
            {
                _uplink.HandleDataResponse(m, _bootId);
            }
            else if (type == MessageTypes.Request)
            {
                if (_state == ConnectionState.Running) OnRequest(m, now);
            }
            else if (type == MessageTypes.Error)
            {
                _log.Warn("gateway error " + WireValues.GetString(m, Fields.Code) + ": " + WireValues.GetString(m, Fields.Message));
            }
            else if (type == MessageTypes.Publish)
            {
                _log.Info("published on " + WireValues.GetString(m, Fields.Topic));
            }
            // heartbeat_response and anything else: receiving it already counted as a sign of life.
        }

        private void OnWelcome(long now)
        {
            if (_state != ConnectionState.AwaitWelcome) return;
            // Sent back to back like the seed clients; auth is sent even when the welcome says
            // authRequired:false, because storing readings always needs the device token.
            _announcedHeartbeatMs = _settings.HeartbeatIntervalMs;
            if (!Send(DeviceMessages.Handshake(_settings, _bootId)) || !Send(DeviceMessages.Auth(_settings.Token)))
            {
                Disconnect(now, CloseCodes.Normal, BackoffKind.Normal, "could not send handshake");
                return;
            }
            _state = ConnectionState.AwaitAuth;
            _stateSince = now;
        }

        private void OnAuthResponse(Hashtable m, long now)
        {
            if (_state != ConnectionState.AwaitAuth) return;
            if (WireValues.GetBool(m, Fields.Success, false))
            {
                long lastBootId;
                if (WireValues.TryGetLong(m[Fields.LastBootId], out lastBootId)) BootAbove(lastBootId);
                _authenticatedThisBoot = true;
                _state = ConnectionState.Running;
                _stateSince = now;
                _lastReceivedAt = now;
                _backoff.Reset();
                _uplink.Restart();
                _nextHeartbeatAt = now + HeartbeatPeriodMs;
                _log.Info("authenticated, " + _buffer.Count + " readings to send");
                return;
            }
            _authFailed = true;
            _authRefusals++;
            _log.Warn("auth failed: " + WireValues.GetString(m, Fields.Error) + " " + WireValues.GetString(m, Fields.Message));
            Disconnect(now, CloseCodes.Normal, BackoffKind.Refused, "auth failed");
        }

        /// <summary>
        /// The gateway already holds readings of boot lastBootId. Above ours, or equal to ours before this
        /// boot stored anything, means this board's boot counter was lost (flash wiped, or a new board
        /// given an old id): its readings would be answered as duplicates of old ones and lost. Move this
        /// boot above it, keep it, and re-key the readings this boot has taken so far.
        /// </summary>
        private void BootAbove(long lastBootId)
        {
            if (lastBootId < _bootId || (lastBootId == _bootId && _authenticatedThisBoot)) return;
            long old = _bootId;
            _bootId = lastBootId + 1;
            SafeSet(StoreKeys.BootId, _bootId.ToString());
            for (int i = 0; i < _buffer.Count; i++)
            {
                Reading r = _buffer[i];
                if (r.BootId == old) r.MoveToBoot(_bootId);
            }
            _log.Warn("gateway has boot " + lastBootId + " of this device stored; boot " + old + " continues as boot " + _bootId);
            // Tell the gateway the boot this connection really is (presence, reboot detection).
            Send(DeviceMessages.Handshake(_settings, _bootId));
        }

        // The gateway judges presence by the interval announced in the handshake, so a longer
        // interval set by set_interval only takes effect from the next connection.
        private int HeartbeatPeriodMs
        {
            get
            {
                int configured = _settings.HeartbeatIntervalMs;
                return _announcedHeartbeatMs > 0 && _announcedHeartbeatMs < configured ? _announcedHeartbeatMs : configured;
            }
        }

        private void RunConnected(long now)
        {
            int period = HeartbeatPeriodMs;
            if (now - _lastReceivedAt > 2L * period)
            {
                Disconnect(now, CloseCodes.Normal, BackoffKind.Normal, "watchdog: nothing from the gateway for " + (now - _lastReceivedAt) + " ms", true);
                return;
            }
            if (now >= _nextHeartbeatAt)
            {
                Send(DeviceMessages.Heartbeat(Timestamp(now), now - _bootTick, _device.FreeMemory, _device.Rssi, _health.Failures));
                _nextHeartbeatAt = now + period;
            }
            _uplink.CheckTimeouts(now);
            _uplink.Pump(now, _send);
        }

        private bool Send(Hashtable message)
        {
            string text;
            try
            {
                text = _json.Serialize(message);
            }
            catch (Exception ex)
            {
                _log.Warn("could not serialize: " + ex.Message);
                return false;
            }
            try
            {
                return _transport.Send(text);
            }
            catch (Exception ex)
            {
                _log.Warn("send failed: " + ex.Message);
                return false;
            }
        }

        // ---- readings ----

        /// <summary>One read of the sensor; false when it failed or was implausible (counted in sensor health).</summary>
        private bool TakeReading(long now)
        {
            double t;
            double h;
            bool ok;
            try
            {
                ok = _sensor.TryRead(out t, out h);
            }
            catch (Exception ex)
            {
                _log.Warn("sensor threw: " + ex.Message);
                ok = false;
                t = 0;
                h = 0;
            }
            if (!ok)
            {
                _health.RecordFailure();
                return false;
            }
            // The DHT22 resolves 0.1; rounding also keeps the JSON short.
            t = Math.Round(t * 10) / 10;
            h = Math.Round(h * 10) / 10;
            string why = ReadingRules.Check(t, h);
            if (why != null)
            {
                _health.RecordFailure();
                _log.Warn("implausible reading dropped: " + why);
                return false;
            }
            _health.RecordSuccess(t, h, now);
            _lastSeq++;
            _taken++;
            _buffer.Add(new Reading(_lastSeq, _bootId, t, h, Timestamp(now)));
            return true;
        }

        /// <summary>ISO-8601 UTC when the clock is synced, otherwise uptime milliseconds as a number.</summary>
        private object Timestamp(long now)
        {
            DateTime utc = _clock.UtcNow;
            if (IsoTime.IsSynced(utc)) return IsoTime.Format(utc);
            return now - _bootTick;
        }

        private void SpillReadings()
        {
            ArrayList items = new ArrayList();
            for (int i = 0; i < _buffer.Count; i++)
            {
                Reading r = _buffer[i];
                Hashtable item = new Hashtable();
                item[Fields.Seq] = r.Seq;
                item[Fields.BootId] = r.BootId;
                item[Fields.Temperature] = r.Temperature;
                item[Fields.Humidity] = r.Humidity;
                item[Fields.Timestamp] = r.Timestamp;
                items.Add(item);
            }
            if (items.Count == 0)
            {
                SafeRemove(StoreKeys.Spill);
                return;
            }
            Hashtable spill = new Hashtable();
            spill[Fields.Batch] = items;
            try
            {
                SafeSet(StoreKeys.Spill, _json.Serialize(spill));
            }
            catch (Exception ex)
            {
                _log.Warn("could not spill readings: " + ex.Message);
            }
        }

        private void RestoreSpill()
        {
            string text = SafeGet(StoreKeys.Spill);
            if (text == null) return;
            SafeRemove(StoreKeys.Spill);
            Hashtable spill = null;
            try
            {
                spill = _json.Parse(text);
            }
            catch (Exception ex)
            {
                _log.Warn("spilled readings unreadable: " + ex.Message);
            }
            ArrayList items = WireValues.GetArray(spill, Fields.Batch);
            if (items == null) return;
            for (int i = 0; i < items.Count; i++)
            {
                Hashtable item = items[i] as Hashtable;
                long seq;
                long bootId;
                double t;
                double h;
                if (item == null
                    || !WireValues.TryGetLong(item[Fields.Seq], out seq)
                    || !WireValues.TryGetLong(item[Fields.BootId], out bootId)
                    || !WireValues.TryGetDouble(item[Fields.Temperature], out t)
                    || !WireValues.TryGetDouble(item[Fields.Humidity], out h))
                    continue;
                object ts = item[Fields.Timestamp];
                long uptime;
                // nanoFramework.Json turns date-looking strings into DateTime.
                if (ts is DateTime) ts = IsoTime.Format((DateTime)ts);
                else if (!(ts is string) && WireValues.TryGetLong(ts, out uptime)) ts = uptime;
                else if (!(ts is string)) continue;
                _buffer.Add(new Reading(seq, bootId, t, h, ts));
            }
        }

        // ---- what the RPC endpoints need ----

        private void OnRequest(Hashtable m, long now)
        {
            string requestId = WireValues.GetString(m, Fields.RequestId);
            string endpoint = WireValues.GetString(m, Fields.Endpoint);
            Hashtable data = WireValues.GetObject(m, Fields.Data);
            Send(_rpc.Dispatch(requestId, endpoint, data, now));
        }

        internal SensorHealth Health
        {
            get { return _health; }
        }

        internal IDeviceControl Device
        {
            get { return _device; }
        }

        internal int BufferCapacity
        {
            get { return _buffer.Capacity; }
        }

        /// <summary>Restarts after the reboot delay; the answer has been sent before this runs.</summary>
        internal void ScheduleReboot(long now)
        {
            _rebootPending = true;
            _rebootAt = now + _settings.RebootDelayMs;
        }

        /// <summary>Applies and persists new intervals; -1 leaves one unchanged.</summary>
        internal void ApplyIntervals(long readingMs, long heartbeatMs, long now)
        {
            if (readingMs > 0)
            {
                _settings.ReadingIntervalMs = (int)readingMs;
                SafeSet(StoreKeys.ReadingIntervalMs, readingMs.ToString());
                _nextReadingAt = now + readingMs;
                _scheduledReadingAt = _nextReadingAt;
            }
            if (heartbeatMs > 0)
            {
                _settings.HeartbeatIntervalMs = (int)heartbeatMs;
                SafeSet(StoreKeys.HeartbeatIntervalMs, heartbeatMs.ToString());
                _nextHeartbeatAt = now + HeartbeatPeriodMs;
            }
        }

        private string SafeGet(string key)
        {
            try
            {
                return _store.Get(key);
            }
            catch (Exception ex)
            {
                _log.Warn("store read failed: " + ex.Message);
                return null;
            }
        }

        private void SafeSet(string key, string value)
        {
            try
            {
                _store.Set(key, value);
            }
            catch (Exception ex)
            {
                _log.Warn("store write failed: " + ex.Message);
            }
        }

        private void SafeRemove(string key)
        {
            try
            {
                _store.Remove(key);
            }
            catch (Exception ex)
            {
                _log.Warn("store remove failed: " + ex.Message);
            }
        }
    }
}
