namespace IotWs.Firmware.Core
{
    /// <summary>One validated DHT22 reading waiting for the gateway's acknowledgement.</summary>
    public class Reading
    {
        /// <summary>Creates a reading; timestamp is an ISO string (clock synced) or boxed long uptime ms.</summary>
        public Reading(long seq, long bootId, double temperature, double humidity, object timestamp)
        {
            Seq = seq;
            BootId = bootId;
            Temperature = temperature;
            Humidity = humidity;
            Timestamp = timestamp;
        }

        public long Seq { get; private set; }
        public long BootId { get; private set; }
        public double Temperature { get; private set; }
        public double Humidity { get; private set; }

        /// <summary>ISO-8601 string, or a long of uptime milliseconds when the clock was not synced.</summary>
        public object Timestamp { get; private set; }

        /// <summary>Re-keys a reading of this boot when the boot itself moves above the gateway's lastBootId.</summary>
        public void MoveToBoot(long bootId)
        {
            BootId = bootId;
        }

        /// <summary>Sent on the current link and not yet answered.</summary>
        public bool InFlight;

        /// <summary>Tick when last sent.</summary>
        public long SentAt;

        /// <summary>Send this one alone: its batch was refused as a whole, so isolate the culprit.</summary>
        public bool SendAlone;
    }
}
