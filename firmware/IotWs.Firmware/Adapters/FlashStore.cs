using System.Diagnostics;
using System.IO;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Adapters
{
    /// <summary>
    /// The two flash slots of the core's <see cref="FlashRecordStore"/> as two files on internal
    /// flash (I:\). Nothing else: which slot is current, the sequence and the checksum live in the
    /// core, where the power-cut tests run them.
    /// </summary>
    public class FlashStore : IFlashSlots
    {
        private readonly string _basePath;

        /// <summary>Slots at basePath + ".0" and basePath + ".1", e.g. I:\iotws-state.0.</summary>
        public FlashStore(string basePath)
        {
            _basePath = basePath;
        }

        /// <summary>The store the core uses, opened over these two files.</summary>
        public static FlashRecordStore Open(string basePath)
        {
            FlashRecordStore store = new FlashRecordStore(new FlashStore(basePath));
            Debug.WriteLine("store: record " + store.Sequence + ", " + store.UnreadableSlots + " unreadable slot(s)");
            return store;
        }

        /// <inheritdoc/>
        public byte[] Read(int slot)
        {
            string path = PathOf(slot);
            return File.Exists(path) ? File.ReadAllBytes(path) : null;
        }

        /// <inheritdoc/>
        public void Write(int slot, byte[] data)
        {
            string path = PathOf(slot);
            using (FileStream file = new FileStream(path, FileMode.Create, FileAccess.Write))
            {
                file.Write(data, 0, data.Length);
                file.Flush();
            }
        }

        private string PathOf(int slot)
        {
            return _basePath + "." + slot.ToString();
        }
    }
}
