using System;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Net.WebSockets.WebSocketFrame;
using System.Text;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Adapters
{
    /// <summary>
    /// The core's transport on nanoFramework's ClientWebSocket. A new client per connection (the old
    /// one is disposed), Connect checked by State because it swallows socket errors, handlers that
    /// only hand the text on, and a send budget because SendString queues without limit.
    /// </summary>
    public class WebSocketLink : ITransport
    {
        // Send budget: a burst of 24 messages, refilled at 8 per second. A healthy link drains far
        // faster; a stalled one stops taking messages instead of eating the heap.
        private const int SendBurst = 24;
        private const int SendsPerSecond = 8;

        private readonly object _lock = new object();
        private ClientWebSocket _socket;
        private ClientWebSocket _retired;
        private ITransportListener _listener;
        private double _sendTokens = SendBurst;
        private long _tokensAt;

        /// <inheritdoc/>
        public bool Connect(string url, ITransportListener listener)
        {
            DisposeRetired();

            ClientWebSocketOptions options = new ClientWebSocketOptions();
            // Both set explicitly: their defaults differ between constructors.
            options.KeepAliveInterval = TimeSpan.FromSeconds(30);
            options.ServerTimeout = TimeSpan.FromSeconds(20);
            // The default (int.MaxValue) would allocate whatever size the peer announces.
            options.MaxReceiveFrameSize = 4096;

            ClientWebSocket socket = new ClientWebSocket(options);
            socket.MessageReceived += OnMessageReceived;
            socket.ConnectionClosed += OnConnectionClosed;
            lock (_lock)
            {
                _socket = socket;
                _listener = listener;
                _sendTokens = SendBurst;
                _tokensAt = Environment.TickCount64;
            }

            try
            {
                socket.Connect(url);
            }
            catch (Exception ex)
            {
                // DNS failures and bad upgrade answers throw.
                Debug.WriteLine("ws connect failed: " + ex.Message);
                Forget(socket);
                return false;
            }

            // Socket errors do not throw: the client just stays Closed.
            if (socket.State != WebSocketState.Open)
            {
                Forget(socket);
                return false;
            }
            listener.OnOpened();
            return true;
        }

        /// <inheritdoc/>
        public bool Send(string text)
        {
            ClientWebSocket socket;
            lock (_lock)
            {
                socket = _socket;
                if (socket == null || !TakeSendToken()) return false;
            }
            try
            {
                return socket.SendString(text);
            }
            catch (Exception ex)
            {
                Debug.WriteLine("ws send failed: " + ex.Message);
                return false;
            }
        }

        /// <inheritdoc/>
        public void Close(int closeCode)
        {
            ClientWebSocket socket;
            lock (_lock)
            {
                socket = _socket;
                _socket = null;
                _listener = null;
            }
            if (socket == null) return;
            try
            {
                socket.Close((WebSocketCloseStatus)closeCode, null);
            }
            catch (Exception ex)
            {
                Debug.WriteLine("ws close failed: " + ex.Message);
            }
            // Disposed at the next Connect, after the close frame had time to go out.
            _retired = socket;
        }

        private bool TakeSendToken()
        {
            long now = Environment.TickCount64;
            _sendTokens += (now - _tokensAt) * SendsPerSecond / 1000.0;
            _tokensAt = now;
            if (_sendTokens > SendBurst) _sendTokens = SendBurst;
            if (_sendTokens < 1) return false;
            _sendTokens -= 1;
            return true;
        }

        // Runs on the receive thread: decode and hand over, nothing else.
        private void OnMessageReceived(object sender, MessageReceivedEventArgs e)
        {
            ITransportListener listener;
            lock (_lock)
            {
                if (sender != (object)_socket) return;
                listener = _listener;
            }
            if (listener == null || e.Frame.MessageType != WebSocketMessageType.Text) return;
            // Fragments are not reassembled by the client; the gateway's messages to us are small.
            if (e.Frame.IsFragmented) return;
            listener.OnMessage(Encoding.UTF8.GetString(e.Frame.Buffer, 0, e.Frame.MessageLength));
        }

        private void OnConnectionClosed(object sender, EventArgs e)
        {
            ITransportListener listener;
            lock (_lock)
            {
                if (sender != (object)_socket) return;
                listener = _listener;
                _socket = null;
                _listener = null;
                _retired = (ClientWebSocket)sender;
            }
            // The client keeps the peer's close status to itself, so the core hears 1006.
            if (listener != null) listener.OnClosed(DeviceCore.AbnormalClosure);
        }

        private void Forget(ClientWebSocket socket)
        {
            lock (_lock)
            {
                if (_socket == socket)
                {
                    _socket = null;
                    _listener = null;
                }
            }
            socket.MessageReceived -= OnMessageReceived;
            socket.ConnectionClosed -= OnConnectionClosed;
            try
            {
                socket.Dispose();
            }
            catch (Exception)
            {
                // A half-open client may throw on dispose; it is garbage either way.
            }
        }

        private void DisposeRetired()
        {
            ClientWebSocket retired = _retired;
            _retired = null;
            if (retired != null) Forget(retired);
        }
    }
}
