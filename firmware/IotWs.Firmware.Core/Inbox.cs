using System.Collections;

namespace IotWs.Firmware.Core
{
    /// <summary>
    /// What transports report, queued for the core's Tick. Transports call in from their own
    /// threads; the core drains the queue on its loop, so the state machine stays single-threaded.
    /// </summary>
    public class Inbox
    {
        private readonly Queue _queue = new Queue();
        private readonly object _lock = new object();
        private readonly int _capacity;
        private long _droppedMessages;

        /// <summary>Creates an inbox holding at most capacity text messages.</summary>
        public Inbox(int capacity)
        {
            _capacity = capacity < 4 ? 4 : capacity;
        }

        /// <summary>Text messages refused because the inbox was full (the ack timeout recovers them).</summary>
        public long DroppedMessages
        {
            get { return _droppedMessages; }
        }

        /// <summary>Queues a report; text messages beyond capacity are dropped, open/close never are.</summary>
        public void Post(TransportEvent e)
        {
            lock (_lock)
            {
                if (e.Kind == TransportEventKind.Message && _queue.Count >= _capacity)
                {
                    _droppedMessages++;
                    return;
                }
                _queue.Enqueue(e);
            }
        }

        /// <summary>The oldest report, or null.</summary>
        public TransportEvent Take()
        {
            lock (_lock)
            {
                if (_queue.Count == 0) return null;
                return (TransportEvent)_queue.Dequeue();
            }
        }
    }

    /// <summary>Kinds of transport report.</summary>
    public enum TransportEventKind
    {
        Opened,
        Message,
        Closed
    }

    /// <summary>One transport report, tagged with the connection it belongs to.</summary>
    public class TransportEvent
    {
        public TransportEventKind Kind;

        /// <summary>The connection attempt it came from; reports of older attempts are ignored.</summary>
        public int Generation;

        public string Text;
        public int CloseCode;
    }

    /// <summary>The listener handed to one Connect call: tags each report with that attempt's generation.</summary>
    internal sealed class ConnectionEvents : ITransportListener
    {
        private readonly Inbox _inbox;
        private readonly int _generation;

        public ConnectionEvents(Inbox inbox, int generation)
        {
            _inbox = inbox;
            _generation = generation;
        }

        public void OnOpened()
        {
            TransportEvent e = new TransportEvent();
            e.Kind = TransportEventKind.Opened;
            e.Generation = _generation;
            _inbox.Post(e);
        }

        public void OnMessage(string text)
        {
            TransportEvent e = new TransportEvent();
            e.Kind = TransportEventKind.Message;
            e.Generation = _generation;
            e.Text = text;
            _inbox.Post(e);
        }

        public void OnClosed(int closeCode)
        {
            TransportEvent e = new TransportEvent();
            e.Kind = TransportEventKind.Closed;
            e.Generation = _generation;
            e.CloseCode = closeCode;
            _inbox.Post(e);
        }
    }
}
