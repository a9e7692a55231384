namespace IotWs.Firmware.Core
{
    /// <summary>A WebSocket-like link to the gateway: one text message per frame.</summary>
    /// <remarks>
    /// Implementations may connect synchronously (the ESP32 client does) or in the background
    /// (the .NET client does); either way they report through the listener handed to
    /// <see cref="Connect"/>, from any thread. The core queues those reports and acts on them
    /// in its own Tick, so adapters never call into the state machine directly.
    /// </remarks>
    public interface ITransport
    {
        /// <summary>
        /// Starts a connection. Returns false when the attempt failed at once; true when the link
        /// is open or opening, in which case the listener later gets OnOpened or OnClosed.
        /// </summary>
        bool Connect(string url, ITransportListener listener);

        /// <summary>Queues a text message. False when the link is not open or the send queue is full.</summary>
        bool Send(string text);

        /// <summary>Closes the current link (if any) with the given close status.</summary>
        void Close(int closeCode);
    }

    /// <summary>What a transport reports about one connection. Called from the transport's threads.</summary>
    public interface ITransportListener
    {
        /// <summary>The link is open: the WebSocket handshake succeeded.</summary>
        void OnOpened();

        /// <summary>A complete text message arrived.</summary>
        void OnMessage(string text);

        /// <summary>The link is gone; closeCode is the peer's close status, or 1006 when unknown.</summary>
        void OnClosed(int closeCode);
    }
}
