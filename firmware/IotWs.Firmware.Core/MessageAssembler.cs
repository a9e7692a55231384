using System.Text;

namespace IotWs.Firmware.Core
{
    /// <summary>Where a received frame sits in its message (nanoFramework's FragmentationType).</summary>
    public enum FrameKind
    {
        /// <summary>A whole message in one frame.</summary>
        Whole,

        /// <summary>The first fragment of a message.</summary>
        First,

        /// <summary>A fragment between the first and the last.</summary>
        Middle,

        /// <summary>The last fragment.</summary>
        Last
    }

    /// <summary>
    /// Reassembles fragmented WebSocket messages (nanoFramework's client hands fragments over one by
    /// one) up to a size limit. A message over the limit, or fragments out of order, are dropped,
    /// counted and logged: the gateway's answers that get lost this way are recovered by the ack
    /// timeout. Runs on the transport's receive thread; one message at a time, as on the wire.
    /// </summary>
    public class MessageAssembler
    {
        private readonly int _maxMessageBytes;
        private readonly ILog _log;
        private byte[] _buffer;
        private int _length;
        private bool _assembling;
        private bool _isText;
        private bool _overflow;
        private int _announced;
        private long _reassembled;
        private long _dropped;

        /// <summary>Accepts text messages of up to maxMessageBytes, in one frame or many.</summary>
        public MessageAssembler(int maxMessageBytes, ILog log)
        {
            _maxMessageBytes = maxMessageBytes < 16 ? 16 : maxMessageBytes;
            _log = log;
        }

        /// <summary>Fragmented messages delivered whole.</summary>
        public long Reassembled
        {
            get { return _reassembled; }
        }

        /// <summary>Messages dropped: over the limit, or fragments without their start.</summary>
        public long Dropped
        {
            get { return _dropped; }
        }

        /// <summary>
        /// Takes one frame. Returns the complete text message once its last frame is in, otherwise
        /// null (a fragment kept, a binary message ignored, or a drop). isText is the frame's own
        /// type: continuation frames are not text, the first fragment decides.
        /// </summary>
        public string Accept(FrameKind kind, bool isText, byte[] data, int length)
        {
            if (length < 0) length = 0;
            if (data == null) length = 0;
            else if (length > data.Length) length = data.Length;

            if (kind == FrameKind.Whole)
            {
                if (_assembling) Drop("a whole message arrived inside a fragmented one");
                if (!isText) return null;
                if (length > _maxMessageBytes)
                {
                    Drop("message of " + length + " bytes is over the limit of " + _maxMessageBytes);
                    return null;
                }
                return Encoding.UTF8.GetString(data, 0, length);
            }

            if (kind == FrameKind.First)
            {
                if (_assembling) Drop("a new fragmented message started before the last one ended");
                _assembling = true;
                _isText = isText;
                _overflow = false;
                _length = 0;
                _announced = 0;
                Append(data, length);
                return null;
            }

            if (!_assembling)
            {
                _dropped++;
                _log.Warn("ws: fragment without its first frame dropped (" + _dropped + " messages dropped)");
                return null;
            }
            Append(data, length);
            if (kind == FrameKind.Middle) return null;

            _assembling = false;
            if (_overflow)
            {
                Drop("fragmented message of " + _announced + " bytes is over the limit of " + _maxMessageBytes);
                return null;
            }
            string text = _isText ? Encoding.UTF8.GetString(_buffer, 0, _length) : null;
            if (text != null) _reassembled++;
            Release();
            return text;
        }

        private void Append(byte[] data, int length)
        {
            _announced += length;
            if (_overflow) return;
            if (_length + length > _maxMessageBytes)
            {
                _overflow = true;
                Release();
                return;
            }
            // The buffer exists only while a fragmented message is arriving, so the heap gets it back.
            if (_buffer == null) _buffer = new byte[_maxMessageBytes];
            System.Array.Copy(data, 0, _buffer, _length, length);
            _length += length;
        }

        private void Drop(string why)
        {
            _dropped++;
            _assembling = false;
            _overflow = false;
            Release();
            _log.Warn("ws: " + why + "; dropped (" + _dropped + " messages dropped)");
        }

        private void Release()
        {
            _buffer = null;
            _length = 0;
        }
    }
}
