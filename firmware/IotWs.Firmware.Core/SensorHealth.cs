namespace IotWs.Firmware.Core
{
    /// <summary>How the DHT22 is doing: failed reads, failures in a row, and the last good values.</summary>
    public class SensorHealth
    {
        private long _failures;
        private int _consecutive;
        private bool _hasReading;
        private double _temperature;
        private double _humidity;
        private long _lastGoodAt;

        /// <summary>Failed or implausible reads since boot (reported as sensorErrors).</summary>
        public long Failures
        {
            get { return _failures; }
        }

        public int ConsecutiveFailures
        {
            get { return _consecutive; }
        }

        public bool HasReading
        {
            get { return _hasReading; }
        }

        public double LastTemperature
        {
            get { return _temperature; }
        }

        public double LastHumidity
        {
            get { return _humidity; }
        }

        /// <summary>True when the last read worked.</summary>
        public bool IsOk
        {
            get { return _hasReading && _consecutive == 0; }
        }

        public void RecordFailure()
        {
            _failures++;
            _consecutive++;
        }

        public void RecordSuccess(double temperature, double humidity, long tick)
        {
            _consecutive = 0;
            _hasReading = true;
            _temperature = temperature;
            _humidity = humidity;
            _lastGoodAt = tick;
        }

        /// <summary>Milliseconds since the last good reading, or -1 when there has been none.</summary>
        public long AgeMs(long now)
        {
            return _hasReading ? now - _lastGoodAt : -1;
        }
    }
}
