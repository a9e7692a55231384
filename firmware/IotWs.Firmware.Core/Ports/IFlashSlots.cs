namespace IotWs.Firmware.Core
{
    /// <summary>
    /// Two independent places on flash (two files on the ESP32's I:\ drive). A power cut during
    /// <see cref="Write"/> may leave that slot holding any prefix of the new bytes, or a mix of new
    /// and old; the other slot is never touched by it.
    /// </summary>
    public interface IFlashSlots
    {
        /// <summary>The bytes last written to slot 0 or 1, or null when the slot is empty or unreadable.</summary>
        byte[] Read(int slot);

        /// <summary>Replaces the slot's bytes; returns once they are on flash.</summary>
        void Write(int slot, byte[] data);
    }
}
