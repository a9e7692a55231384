namespace IotWs.Protocol
{
    /// <summary>Who a connection is after auth, and the client types of the handshake.</summary>
    public static class Roles
    {
        public const string Device = "device";
        public const string Viewer = "viewer";
        public const string Technician = "technician";
        public const string Admin = "admin";

        /// <summary>True for a role name an API key may carry.</summary>
        public static bool IsKeyRole(string role)
        {
            return role == Viewer || role == Technician || role == Admin;
        }

        /// <summary>Technicians and admins may call devices and publish anywhere.</summary>
        public static bool CanOperate(string role)
        {
            return role == Technician || role == Admin;
        }

        /// <summary>Viewers and up may read fleet data.</summary>
        public static bool CanView(string role)
        {
            return role == Viewer || role == Technician || role == Admin;
        }
    }

    /// <summary>Values of "clientType" in the handshake.</summary>
    public static class ClientTypes
    {
        public const string Microcontroller = "microcontroller";
        public const string Application = "application";
        public const string Service = "service";
    }

    /// <summary>Protocol-wide constants.</summary>
    public static class ProtocolInfo
    {
        public const int Version = 1;
        public const int DefaultHeartbeatIntervalMs = 30000;
        public const int DefaultMaxPayloadSize = 65536;
        public const string DataTypeSensor = "sensor";
    }
}
