using System;
using System.Collections;
using System.Text;

namespace IotWs.Firmware.Core
{
    /// <summary>
    /// The device's persistent key/value store, safe against a power cut at any byte: every change
    /// writes the whole table as a new record into the slot NOT holding the newest valid record,
    /// with a sequence number one higher and a CRC-32. At start the valid record with the highest
    /// sequence wins, so a torn write costs at most that one change and never the older state
    /// (in particular never the boot counter).
    /// </summary>
    /// <remarks>
    /// Record: "IWS1" | sequence (8 bytes, little-endian) | payload length (4) | payload | CRC-32 (4)
    /// over sequence, length and payload. Payload: per entry key length (2), key (UTF-8), value
    /// length (4), value (UTF-8). Binary rather than JSON: nanoFramework.Json turns strings that
    /// look like numbers or dates into those types, and fails on some escapes.
    /// </remarks>
    public class FlashRecordStore : IStore
    {
        private const int HeaderLength = 16;
        private const int CrcLength = 4;
        private static readonly byte[] Magic = new byte[] { (byte)'I', (byte)'W', (byte)'S', (byte)'1' };

        private readonly IFlashSlots _flash;
        private readonly Hashtable _values = new Hashtable();
        private long _sequence;
        private int _slot = -1;
        private int _unreadableSlots;

        /// <summary>Opens the store: reads both slots and keeps the newest valid record.</summary>
        public FlashRecordStore(IFlashSlots flash)
        {
            _flash = flash;
            Hashtable best = null;
            for (int slot = 0; slot < 2; slot++)
            {
                byte[] data = ReadSlot(slot);
                long sequence = 0;
                Hashtable values = data == null ? null : Decode(data, out sequence);
                if (values == null)
                {
                    if (data != null) _unreadableSlots++;
                    continue;
                }
                if (best == null || sequence > _sequence)
                {
                    best = values;
                    _sequence = sequence;
                    _slot = slot;
                }
            }
            if (best == null) return;
            foreach (DictionaryEntry e in best) _values[e.Key] = e.Value;
        }

        /// <summary>Sequence number of the newest record (0 when the flash held none).</summary>
        public long Sequence
        {
            get { return _sequence; }
        }

        /// <summary>Slots that held bytes but no valid record at start (a torn write, or garbage).</summary>
        public int UnreadableSlots
        {
            get { return _unreadableSlots; }
        }

        /// <inheritdoc/>
        public string Get(string key)
        {
            return (string)_values[key];
        }

        /// <inheritdoc/>
        public void Set(string key, string value)
        {
            if (value == null)
            {
                Remove(key);
                return;
            }
            if (value == (string)_values[key]) return;
            _values[key] = value;
            Save();
        }

        /// <inheritdoc/>
        public void Remove(string key)
        {
            if (!_values.Contains(key)) return;
            _values.Remove(key);
            Save();
        }

        private void Save()
        {
            int target = _slot == 0 ? 1 : 0;
            long sequence = _sequence + 1;
            _flash.Write(target, Encode(_values, sequence));
            // Only once the record is on flash does it become the one to overwrite last.
            _slot = target;
            _sequence = sequence;
        }

        private byte[] ReadSlot(int slot)
        {
            try
            {
                return _flash.Read(slot);
            }
            catch (Exception)
            {
                // An unreadable slot is as good as a torn one: the other slot decides.
                return new byte[0];
            }
        }

        /// <summary>The record bytes for a table (exposed for tests).</summary>
        public static byte[] Encode(Hashtable values, long sequence)
        {
            int payload = 0;
            ArrayList keys = new ArrayList();
            foreach (DictionaryEntry e in values)
            {
                keys.Add(e.Key);
                payload += 2 + Encoding.UTF8.GetBytes((string)e.Key).Length + 4 + Encoding.UTF8.GetBytes((string)e.Value).Length;
            }
            byte[] data = new byte[HeaderLength + payload + CrcLength];
            Array.Copy(Magic, data, Magic.Length);
            WriteUInt(data, 4, sequence, 8);
            WriteUInt(data, 12, payload, 4);
            int at = HeaderLength;
            for (int i = 0; i < keys.Count; i++)
            {
                string key = (string)keys[i];
                at = WriteText(data, at, key, 2);
                at = WriteText(data, at, (string)values[key], 4);
            }
            WriteUInt(data, at, Crc32.Compute(data, 4, at - 4), 4);
            return data;
        }

        /// <summary>The table of a valid record, or null when the bytes are not one.</summary>
        public static Hashtable Decode(byte[] data, out long sequence)
        {
            sequence = 0;
            if (data.Length < HeaderLength + CrcLength) return null;
            for (int i = 0; i < Magic.Length; i++)
            {
                if (data[i] != Magic[i]) return null;
            }
            long payload = ReadUInt(data, 12, 4);
            if (payload > data.Length - HeaderLength - CrcLength) return null;
            int end = HeaderLength + (int)payload;
            if (ReadUInt(data, end, 4) != Crc32.Compute(data, 4, end - 4)) return null;
            sequence = ReadUInt(data, 4, 8);

            Hashtable values = new Hashtable();
            int at = HeaderLength;
            while (at < end)
            {
                string key;
                string value;
                at = ReadText(data, at, end, 2, out key);
                if (at < 0) return null;
                at = ReadText(data, at, end, 4, out value);
                if (at < 0) return null;
                values[key] = value;
            }
            return values;
        }

        private static int WriteText(byte[] data, int at, string text, int lengthBytes)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            WriteUInt(data, at, bytes.Length, lengthBytes);
            Array.Copy(bytes, 0, data, at + lengthBytes, bytes.Length);
            return at + lengthBytes + bytes.Length;
        }

        private static int ReadText(byte[] data, int at, int end, int lengthBytes, out string text)
        {
            text = null;
            if (at + lengthBytes > end) return -1;
            long length = ReadUInt(data, at, lengthBytes);
            at += lengthBytes;
            if (length > end - at) return -1;
            text = Encoding.UTF8.GetString(data, at, (int)length);
            return at + (int)length;
        }

        private static void WriteUInt(byte[] data, int at, long value, int count)
        {
            for (int i = 0; i < count; i++) data[at + i] = (byte)(value >> (8 * i));
        }

        private static long ReadUInt(byte[] data, int at, int count)
        {
            long value = 0;
            for (int i = 0; i < count; i++) value |= (long)data[at + i] << (8 * i);
            return value;
        }
    }

    /// <summary>CRC-32 (IEEE 802.3, the zip/PNG one), table-driven; nanoFramework has no System.IO.Hashing.</summary>
    public static class Crc32
    {
        private static uint[] _table;

        /// <summary>The CRC of count bytes from offset.</summary>
        public static long Compute(byte[] data, int offset, int count)
        {
            uint[] table = Table();
            uint crc = 0xFFFFFFFF;
            for (int i = offset; i < offset + count; i++) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
            return ~crc;
        }

        private static uint[] Table()
        {
            if (_table != null) return _table;
            uint[] table = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
                table[n] = c;
            }
            _table = table;
            return table;
        }
    }
}
