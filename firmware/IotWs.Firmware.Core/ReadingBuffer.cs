using System.Collections;

namespace IotWs.Firmware.Core
{
    /// <summary>
    /// Bounded FIFO of readings the gateway has not acknowledged. When full, the oldest reading is
    /// dropped and counted: fresh data matters more than old data once memory runs out.
    /// </summary>
    public class ReadingBuffer
    {
        private readonly ArrayList _items = new ArrayList();
        private readonly int _capacity;
        private long _dropped;

        /// <summary>Creates a buffer holding at most capacity readings.</summary>
        public ReadingBuffer(int capacity)
        {
            _capacity = capacity < 1 ? 1 : capacity;
        }

        public int Count
        {
            get { return _items.Count; }
        }

        public int Capacity
        {
            get { return _capacity; }
        }

        /// <summary>Readings dropped because the buffer was full.</summary>
        public long Dropped
        {
            get { return _dropped; }
        }

        /// <summary>The reading at a position, oldest first.</summary>
        public Reading this[int index]
        {
            get { return (Reading)_items[index]; }
        }

        /// <summary>Appends a reading, dropping the oldest when full.</summary>
        public void Add(Reading reading)
        {
            while (_items.Count >= _capacity)
            {
                _items.RemoveAt(0);
                _dropped++;
            }
            _items.Add(reading);
        }

        /// <summary>Removes a reading; false when it is no longer here (already acked or dropped).</summary>
        public bool Remove(Reading reading)
        {
            int index = _items.IndexOf(reading);
            if (index < 0) return false;
            _items.RemoveAt(index);
            return true;
        }

        /// <summary>
        /// Finds a reading by seq, preferring one that is in flight (a spilled reading from an
        /// earlier boot may share the seq of a new one), then the given boot, then any.
        /// </summary>
        public Reading Find(long seq, long preferredBootId)
        {
            Reading sameBoot = null;
            Reading any = null;
            for (int i = 0; i < _items.Count; i++)
            {
                Reading r = (Reading)_items[i];
                if (r.Seq != seq) continue;
                if (r.InFlight) return r;
                if (sameBoot == null && r.BootId == preferredBootId) sameBoot = r;
                if (any == null) any = r;
            }
            return sameBoot != null ? sameBoot : any;
        }

        /// <summary>Number of readings sent and not yet answered.</summary>
        public int InFlightCount
        {
            get
            {
                int n = 0;
                for (int i = 0; i < _items.Count; i++)
                {
                    if (((Reading)_items[i]).InFlight) n++;
                }
                return n;
            }
        }

        /// <summary>Forgets what was sent: everything is sent again, in order (after a reconnect or an ack timeout).</summary>
        public void MarkAllUnsent()
        {
            for (int i = 0; i < _items.Count; i++)
            {
                ((Reading)_items[i]).InFlight = false;
            }
        }

        /// <summary>True when some reading was sent at or before the given tick and is still unanswered.</summary>
        public bool HasInFlightSentBefore(long tick)
        {
            for (int i = 0; i < _items.Count; i++)
            {
                Reading r = (Reading)_items[i];
                if (r.InFlight && r.SentAt <= tick) return true;
            }
            return false;
        }

        /// <summary>
        /// The next readings to send, oldest first: unsent readings of one boot, at most max, and a
        /// reading marked SendAlone only on its own.
        /// </summary>
        public ArrayList NextToSend(int max)
        {
            ArrayList picked = new ArrayList();
            if (max < 1) return picked;
            for (int i = 0; i < _items.Count; i++)
            {
                Reading r = (Reading)_items[i];
                if (r.InFlight) continue;
                if (picked.Count > 0)
                {
                    Reading first = (Reading)picked[0];
                    if (r.SendAlone || first.SendAlone || r.BootId != first.BootId) break;
                }
                picked.Add(r);
                if (picked.Count >= max || r.SendAlone) break;
            }
            return picked;
        }
    }
}
