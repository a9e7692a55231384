namespace IotWs.Firmware.Core
{
    /// <summary>Where the device is in its connection lifecycle.</summary>
    public enum ConnectionState
    {
        /// <summary>Not started, or stopped.</summary>
        Disconnected,

        /// <summary>Opening the WebSocket.</summary>
        Connecting,

        /// <summary>Link open, waiting for the gateway's welcome.</summary>
        AwaitWelcome,

        /// <summary>Handshake and auth sent, waiting for auth_response.</summary>
        AwaitAuth,

        /// <summary>Authenticated: readings, heartbeats and requests flow.</summary>
        Running,

        /// <summary>Waiting before the next connection attempt.</summary>
        Backoff
    }
}
