using System.Collections;
using IotWs.Protocol;

namespace IotWs.Firmware.Core
{
    /// <summary>
    /// Hands one message to the link; false when it was not taken (link down, send budget spent).
    /// A named delegate on purpose: the firmware stays off generic types, delegates included.
    /// </summary>
    public delegate bool MessageSender(Hashtable message);

    /// <summary>
    /// Sends buffered readings in order and settles them from data_response: acked (stored or
    /// duplicate) readings leave the buffer, refused ones are dropped and counted, unanswered ones
    /// are sent again after a timeout. The gateway deduplicates by (device, bootId, seq), so sending
    /// twice is safe; losing a reading is not.
    /// </summary>
    public class ReadingUplink
    {
        private readonly ReadingBuffer _buffer;
        private readonly DeviceSettings _settings;

        // What was sent, oldest first. The gateway answers a connection's messages in order, which
        // lets an answer without seq (the seed's failure form) be matched to the oldest unit.
        private readonly ArrayList _units = new ArrayList();

        private long _acked;
        private long _rejected;
        private long _resent;

        /// <summary>Creates an uplink over a buffer.</summary>
        public ReadingUplink(ReadingBuffer buffer, DeviceSettings settings)
        {
            _buffer = buffer;
            _settings = settings;
        }

        /// <summary>Readings the gateway confirmed (stored or already stored).</summary>
        public long Acked
        {
            get { return _acked; }
        }

        /// <summary>Readings dropped because the gateway refused them (validation_failed).</summary>
        public long Rejected
        {
            get { return _rejected; }
        }

        /// <summary>Readings sent again because their answer did not come in time.</summary>
        public long Resent
        {
            get { return _resent; }
        }

        /// <summary>A new link: nothing is in flight any more, everything unacked goes again in order.</summary>
        public void Restart()
        {
            _buffer.MarkAllUnsent();
            _units.Clear();
        }

        /// <summary>Sends as many unsent readings as the in-flight bound allows; stops when send refuses.</summary>
        public void Pump(long now, MessageSender send)
        {
            while (true)
            {
                int room = _settings.MaxInFlight - _buffer.InFlightCount;
                if (room <= 0) return;
                int max = room < _settings.BatchSize ? room : _settings.BatchSize;
                ArrayList next = _buffer.NextToSend(max);
                if (next.Count == 0) return;

                Hashtable message = next.Count == 1
                    ? DeviceMessages.Data((Reading)next[0], _settings)
                    : DeviceMessages.Batch(next, _settings);
                if (!send(message)) return;

                for (int i = 0; i < next.Count; i++)
                {
                    Reading r = (Reading)next[i];
                    r.InFlight = true;
                    r.SentAt = now;
                }
                _units.Add(new SendUnit(next));
            }
        }

        /// <summary>
        /// When an answer is overdue, sends everything in flight again from the oldest (go-back-N),
        /// so the order on the wire stays the order of seq.
        /// </summary>
        public void CheckTimeouts(long now)
        {
            if (!_buffer.HasInFlightSentBefore(now - _settings.AckTimeoutMs)) return;
            _resent += _buffer.InFlightCount;
            Restart();
        }

        /// <summary>Settles readings from a data_response (single or batch form).</summary>
        public void HandleDataResponse(Hashtable message, long currentBootId)
        {
            ArrayList results = WireValues.GetArray(message, Fields.Results);
            if (results != null)
            {
                HandleResults(results, currentBootId);
                return;
            }

            long seq;
            bool hasSeq = WireValues.TryGetLong(message[Fields.Seq], out seq);
            SendUnit unit = hasSeq ? FindUnit(seq) : Head();
            Reading reading = null;
            if (hasSeq)
            {
                reading = unit != null ? unit.Find(seq) : _buffer.Find(seq, currentBootId);
            }
            else if (unit != null && !unit.IsBatch)
            {
                reading = unit.First;
            }

            if (WireValues.GetBool(message, Fields.Success, false))
            {
                if (reading != null) Ack(reading);
                else if (unit != null && unit.IsBatch) AckAll(unit);
            }
            else if (WireValues.GetString(message, Fields.Error) == ErrorCodes.ValidationFailed)
            {
                if (reading != null)
                {
                    Reject(reading);
                }
                else if (unit != null && unit.IsBatch)
                {
                    // The whole batch was refused without saying which reading: send them one
                    // by one so only the bad one is dropped.
                    for (int i = 0; i < unit.Readings.Count; i++)
                    {
                        Reading r = (Reading)unit.Readings[i];
                        r.SendAlone = true;
                        r.InFlight = false;
                    }
                }
            }
            // Any other failure (internal_error, rate limit): leave it in flight; the ack timeout resends it.

            if (unit != null) DropUnitsThrough(unit);
        }

        private void HandleResults(ArrayList results, long currentBootId)
        {
            SendUnit unit = null;
            for (int i = 0; i < results.Count && unit == null; i++)
            {
                long first;
                Hashtable result = results[i] as Hashtable;
                if (result != null && WireValues.TryGetLong(result[Fields.Seq], out first)) unit = FindUnit(first);
            }

            for (int i = 0; i < results.Count; i++)
            {
                Hashtable result = results[i] as Hashtable;
                long seq;
                if (result == null || !WireValues.TryGetLong(result[Fields.Seq], out seq)) continue;
                Reading reading = unit != null ? unit.Find(seq) : null;
                if (reading == null) reading = _buffer.Find(seq, currentBootId);
                if (reading == null) continue;

                string error = WireValues.GetString(result, Fields.Error);
                if (error == null) Ack(reading);
                else if (error == ErrorCodes.ValidationFailed) Reject(reading);
            }

            if (unit != null) DropUnitsThrough(unit);
        }

        private void Ack(Reading reading)
        {
            reading.InFlight = false;
            if (_buffer.Remove(reading)) _acked++;
        }

        private void AckAll(SendUnit unit)
        {
            for (int i = 0; i < unit.Readings.Count; i++) Ack((Reading)unit.Readings[i]);
        }

        private void Reject(Reading reading)
        {
            reading.InFlight = false;
            if (_buffer.Remove(reading)) _rejected++;
        }

        private SendUnit Head()
        {
            return _units.Count > 0 ? (SendUnit)_units[0] : null;
        }

        private SendUnit FindUnit(long seq)
        {
            for (int i = 0; i < _units.Count; i++)
            {
                SendUnit unit = (SendUnit)_units[i];
                if (unit.Find(seq) != null) return unit;
            }
            return null;
        }

        // Answers come in order: units older than the one answered will not be answered any more.
        private void DropUnitsThrough(SendUnit unit)
        {
            int index = _units.IndexOf(unit);
            for (int i = 0; i <= index; i++) _units.RemoveAt(0);
        }

        /// <summary>Readings that went out in one message.</summary>
        private sealed class SendUnit
        {
            public SendUnit(ArrayList readings)
            {
                Readings = readings;
            }

            public ArrayList Readings { get; private set; }

            public bool IsBatch
            {
                get { return Readings.Count > 1; }
            }

            public Reading First
            {
                get { return (Reading)Readings[0]; }
            }

            public Reading Find(long seq)
            {
                for (int i = 0; i < Readings.Count; i++)
                {
                    Reading r = (Reading)Readings[i];
                    if (r.Seq == seq) return r;
                }
                return null;
            }
        }
    }
}
