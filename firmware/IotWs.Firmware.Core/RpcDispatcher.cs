using System.Collections;
using IotWs.Protocol;

namespace IotWs.Firmware.Core
{
    /// <summary>Answers the gateway's requests to the device (get_sensor_status, reboot, ping, set_interval, identify, get_config).</summary>
    public class RpcDispatcher
    {
        /// <summary>The seed sketch's exact words, which callers may show to people.</summary>
        public const string RebootMessage = "Rebooting in 3 seconds";

        private readonly DeviceCore _core;

        internal RpcDispatcher(DeviceCore core)
        {
            _core = core;
        }

        /// <summary>Builds the response message for one request.</summary>
        public Hashtable Dispatch(string requestId, string endpoint, Hashtable data, long now)
        {
            if (endpoint == Endpoints.GetSensorStatus) return DeviceMessages.Response(requestId, SensorStatus(now));
            if (endpoint == Endpoints.Ping) return DeviceMessages.Response(requestId, Ping());
            if (endpoint == Endpoints.GetConfig) return DeviceMessages.Response(requestId, Config());
            if (endpoint == Endpoints.Identify) return Identify(requestId);
            if (endpoint == Endpoints.SetInterval) return SetInterval(requestId, data, now);
            if (endpoint == Endpoints.Reboot)
            {
                // Only schedules: the answer goes out in this Tick, the restart RebootDelayMs later.
                _core.ScheduleReboot(now);
                Hashtable answer = new Hashtable();
                answer[Fields.Message] = RebootMessage;
                return DeviceMessages.Response(requestId, answer);
            }
            return DeviceMessages.ErrorResponse(requestId, Endpoints.Unknown(endpoint == null ? "" : endpoint));
        }

        private Hashtable SensorStatus(long now)
        {
            SensorHealth health = _core.Health;
            Hashtable d = new Hashtable();
            // Like the seed: the values are the last good reading (a DHT22 is not read on demand).
            if (health.HasReading)
            {
                d[Fields.Temperature] = health.LastTemperature;
                d[Fields.Humidity] = health.LastHumidity;
            }
            d[Fields.Uptime] = _core.UptimeMs;
            d[DeviceFields.FreeHeap] = _core.Device.FreeMemory;
            d[DeviceFields.SensorOk] = health.IsOk;
            d[Fields.SensorErrors] = health.Failures;
            d[DeviceFields.ConsecutiveFailures] = health.ConsecutiveFailures;
            d[DeviceFields.LastReadingAgeMs] = health.AgeMs(now);
            d[DeviceFields.Buffered] = _core.Buffered;
            d[DeviceFields.ReadingsDropped] = _core.ReadingsDropped;
            d[Fields.BootId] = _core.BootId;
            d[Fields.Seq] = _core.LastSeq;
            int rssi = _core.Device.Rssi;
            if (rssi != 0) d[Fields.Rssi] = rssi;
            return d;
        }

        private Hashtable Ping()
        {
            Hashtable d = new Hashtable();
            d[DeviceFields.Pong] = true;
            d[Fields.Uptime] = _core.UptimeMs;
            return d;
        }

        private Hashtable Config()
        {
            DeviceSettings s = _core.Settings;
            Hashtable d = new Hashtable();
            d[Fields.DeviceId] = s.DeviceId;
            d[Fields.ReadingIntervalMs] = s.ReadingIntervalMs;
            d[Fields.HeartbeatIntervalMs] = s.HeartbeatIntervalMs;
            d[DeviceFields.BufferCapacity] = _core.BufferCapacity;
            d[DeviceFields.FirmwareVersion] = DeviceInfo.FirmwareVersion;
            d[Fields.BootId] = _core.BootId;
            d[Fields.SensorId] = s.EffectiveSensorId;
            if (s.Location != null) d[Fields.Location] = s.Location;
            return d;
        }

        private Hashtable Identify(string requestId)
        {
            int duration = _core.Settings.IdentifyDurationMs;
            _core.Device.Identify(duration);
            Hashtable d = new Hashtable();
            d[DeviceFields.Identifying] = true;
            d[DeviceFields.DurationMs] = duration;
            return DeviceMessages.Response(requestId, d);
        }

        private Hashtable SetInterval(string requestId, Hashtable data, long now)
        {
            bool hasReading = WireValues.Has(data, Fields.ReadingIntervalMs);
            bool hasHeartbeat = WireValues.Has(data, Fields.HeartbeatIntervalMs);
            if (!hasReading && !hasHeartbeat)
                return DeviceMessages.ErrorResponse(requestId, "set_interval needs " + Fields.ReadingIntervalMs + " and/or " + Fields.HeartbeatIntervalMs);

            long reading = -1;
            long heartbeat = -1;
            if (hasReading && (!WireValues.TryGetLong(data[Fields.ReadingIntervalMs], out reading) || DeviceSettings.CheckReadingInterval(reading) != null))
                return DeviceMessages.ErrorResponse(requestId, DeviceSettings.CheckReadingInterval(-1));
            if (hasHeartbeat && (!WireValues.TryGetLong(data[Fields.HeartbeatIntervalMs], out heartbeat) || DeviceSettings.CheckHeartbeatInterval(heartbeat) != null))
                return DeviceMessages.ErrorResponse(requestId, DeviceSettings.CheckHeartbeatInterval(-1));

            _core.ApplyIntervals(reading, heartbeat, now);
            Hashtable d = new Hashtable();
            d[Fields.ReadingIntervalMs] = _core.Settings.ReadingIntervalMs;
            d[Fields.HeartbeatIntervalMs] = _core.Settings.HeartbeatIntervalMs;
            return DeviceMessages.Response(requestId, d);
        }
    }
}
