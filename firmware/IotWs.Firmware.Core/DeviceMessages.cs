using System.Collections;
using IotWs.Protocol;

namespace IotWs.Firmware.Core
{
    /// <summary>Builds the messages the device sends, as Hashtables keyed by the shared wire names.</summary>
    public static class DeviceMessages
    {
        /// <summary>The handshake, with our firmware's extra fields (deviceId, bootId, heartbeatInterval).</summary>
        public static Hashtable Handshake(DeviceSettings settings, long bootId)
        {
            ArrayList capabilities = new ArrayList();
            capabilities.Add(Capabilities.SensorData);
            capabilities.Add(Capabilities.RemoteControl);
            capabilities.Add(Capabilities.Batch);

            Hashtable m = new Hashtable();
            m[Fields.Type] = MessageTypes.Handshake;
            m[Fields.ClientType] = ClientTypes.Microcontroller;
            m[Fields.Capabilities] = capabilities;
            m[Fields.Version] = DeviceInfo.FirmwareVersion;
            m[Fields.DeviceId] = settings.DeviceId;
            m[Fields.BootId] = bootId;
            m[Fields.HeartbeatInterval] = settings.HeartbeatIntervalMs;
            return m;
        }

        public static Hashtable Auth(string token)
        {
            Hashtable m = new Hashtable();
            m[Fields.Type] = MessageTypes.Auth;
            m[Fields.Token] = token;
            return m;
        }

        /// <summary>A heartbeat with health figures; rssi is left out when the board cannot tell.</summary>
        public static Hashtable Heartbeat(object timestamp, long uptimeMs, long freeMemory, int rssi, long sensorErrors)
        {
            Hashtable m = new Hashtable();
            m[Fields.Type] = MessageTypes.Heartbeat;
            m[Fields.Timestamp] = timestamp;
            m[Fields.Uptime] = uptimeMs;
            m[Fields.FreeMemory] = freeMemory;
            if (rssi != 0) m[Fields.Rssi] = rssi;
            m[Fields.SensorErrors] = sensorErrors;
            return m;
        }

        /// <summary>The seed's data form for one reading, plus seq and bootId.</summary>
        public static Hashtable Data(Reading reading, DeviceSettings settings)
        {
            Hashtable m = new Hashtable();
            m[Fields.Type] = MessageTypes.Data;
            m[Fields.DataType] = ProtocolInfo.DataTypeSensor;
            m[Fields.Data] = ReadingData(reading, settings);
            m[Fields.Timestamp] = reading.Timestamp;
            m[Fields.Seq] = reading.Seq;
            m[Fields.BootId] = reading.BootId;
            return m;
        }

        /// <summary>The batch form used to replay a backlog; answered by one data_response with results.</summary>
        public static Hashtable Batch(ArrayList readings, DeviceSettings settings)
        {
            ArrayList items = new ArrayList();
            for (int i = 0; i < readings.Count; i++)
            {
                Reading r = (Reading)readings[i];
                Hashtable item = new Hashtable();
                item[Fields.Data] = ReadingData(r, settings);
                item[Fields.Seq] = r.Seq;
                item[Fields.BootId] = r.BootId;
                item[Fields.Timestamp] = r.Timestamp;
                items.Add(item);
            }
            Hashtable m = new Hashtable();
            m[Fields.Type] = MessageTypes.Data;
            m[Fields.DataType] = ProtocolInfo.DataTypeSensor;
            m[Fields.Batch] = items;
            return m;
        }

        private static Hashtable ReadingData(Reading r, DeviceSettings settings)
        {
            Hashtable data = new Hashtable();
            data[Fields.Temperature] = r.Temperature;
            data[Fields.Humidity] = r.Humidity;
            data[Fields.SensorId] = settings.EffectiveSensorId;
            if (settings.Location != null && settings.Location.Length > 0) data[Fields.Location] = settings.Location;
            return data;
        }

        /// <summary>A successful answer to a gateway request.</summary>
        public static Hashtable Response(string requestId, Hashtable data)
        {
            Hashtable m = new Hashtable();
            m[Fields.Type] = MessageTypes.Response;
            m[Fields.RequestId] = requestId;
            m[Fields.Success] = true;
            m[Fields.Data] = data;
            return m;
        }

        /// <summary>A failed answer to a gateway request.</summary>
        public static Hashtable ErrorResponse(string requestId, string error)
        {
            Hashtable m = new Hashtable();
            m[Fields.Type] = MessageTypes.Response;
            m[Fields.RequestId] = requestId;
            m[Fields.Success] = false;
            m[Fields.Error] = error;
            return m;
        }
    }
}
