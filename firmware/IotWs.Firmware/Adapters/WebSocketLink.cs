using System;
using System.Diagnostics;
using System.Net.Security;
using System.Net.WebSockets;
using System.Net.WebSockets.WebSocketFrame;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Adapters
{
    /// <summary>
    /// The core's transport on nanoFramework's ClientWebSocket. A new client per connection (the old
    /// one is disposed), Connect checked by State because it swallows socket errors, handlers that
    /// only hand the text on, and a send budget because SendString queues without limit.
    /// </summary>
    /// <remarks>
    /// ClientWebSocket.Connect has no timeout and nothing can cut it short: it makes its socket itself
    /// (private), connects with Poll(-1) and reads the upgrade answer with an infinite receive timeout,
    /// so a gateway that accepts TCP and never answers holds it until the TCP stack gives up, or for
    /// ever. So it runs on a thread of its own (ConnectAttempts): the loop keeps going, the core's
    /// connect timeout abandons the attempt and moves on, a late result is disposed, and at most
    /// DeviceSettings.MaxConnectsInFlight such threads exist at a time (one over TLS).
    ///
    /// wss:// trusts only the configured certificate: it is the client's CACertificate, and
    /// SslVerification is CertificateRequired. Not VerifyPeer: nanoFramework's mbedTLS layer
    /// (ssl_generic_init_internal) asks for MBEDTLS_SSL_VERIFY_REQUIRED only on CertificateRequired and
    /// verifies nothing on any other value. mbedTLS also checks the URL's host against the certificate.
    /// </remarks>
    public class WebSocketLink : ITransport
    {
        /// <summary>Largest message taken, whole or reassembled from fragments; also the frame limit.</summary>
        public const int MaxMessageBytes = 4096;

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
        private readonly ConnectAttempts _attempts;
        private readonly X509Certificate _gatewayCertificate;
        private readonly ILog _log;
        private MessageAssembler _assembler;

        /// <summary>
        /// Creates the link for settings (DeviceSettings.FromConfig checked them): its connect bound, and for
        /// wss:// the gateway certificate, parsed once. Drops of broken fragmented messages are logged to log.
        /// </summary>
        public WebSocketLink(DeviceSettings settings, ILog log)
        {
            _log = log;
            _attempts = new ConnectAttempts(settings.MaxConnectsInFlight);
            if (settings.UsesTls)
            {
                try
                {
                    // The string constructor keeps the terminator mbedTLS needs to parse PEM.
                    _gatewayCertificate = new X509Certificate(settings.TlsCertificate);
                }
                catch (Exception ex)
                {
                    // Without it no wss:// connect is started (see Connect), never one without verification.
                    Debug.WriteLine("tls: " + ConfigKeys.TlsCertificate + " is unusable: " + ex.Message);
                }
            }
        }

        /// <inheritdoc/>
        public bool Connect(string url, ITransportListener listener)
        {
            // The old client first: with TLS its buffers must be gone before new ones are allocated.
            DisposeRetired();
            bool tls = DeviceSettings.IsTlsUrl(url);
            if (tls && _gatewayCertificate == null)
            {
                Debug.WriteLine("ws: no usable gateway certificate for " + url + "; not connecting");
                return false;
            }
            int ticket = _attempts.Begin();
            if (ticket == 0)
            {
                Debug.WriteLine("ws: " + _attempts.InFlight + " connects still hanging; not starting another");
                return false;
            }

            ClientWebSocketOptions options = new ClientWebSocketOptions();
            // Both set explicitly: their defaults differ between constructors.
            options.KeepAliveInterval = TimeSpan.FromSeconds(30);
            options.ServerTimeout = TimeSpan.FromSeconds(20);
            // The default (int.MaxValue) would allocate whatever size the peer announces.
            options.MaxReceiveFrameSize = MaxMessageBytes;
            if (tls) options.SslVerification = SslVerification.CertificateRequired;

            ClientWebSocket socket = new ClientWebSocket(options);
            if (tls) socket.CACertificate = _gatewayCertificate;
            socket.MessageReceived += OnMessageReceived;
            socket.ConnectionClosed += OnConnectionClosed;
            lock (_lock)
            {
                _socket = socket;
                _listener = listener;
                _assembler = new MessageAssembler(MaxMessageBytes, _log);
                _sendTokens = SendBurst;
                _tokensAt = Environment.TickCount64;
            }
            // Opening: the core hears OnOpened or OnClosed from the connect thread, or times out.
            new Thread(() => RunConnect(socket, url, listener, ticket)).Start();
            return true;
        }

        private void RunConnect(ClientWebSocket socket, string url, ITransportListener listener, int ticket)
        {
            bool open = false;
            try
            {
                socket.Connect(url);
                // Socket errors do not throw: the client just stays Closed.
                open = socket.State == WebSocketState.Open;
            }
            catch (Exception ex)
            {
                // DNS failures and bad upgrade answers throw.
                Debug.WriteLine("ws connect failed: " + ex.Message);
            }
            if (!_attempts.Finish(ticket))
            {
                // The core gave up on this attempt long ago: nobody waits for it.
                Forget(socket);
                return;
            }
            if (open)
            {
                listener.OnOpened();
                return;
            }
            Forget(socket);
            listener.OnClosed(DeviceCore.AbnormalClosure);
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
            if (socket.State != WebSocketState.Open)
            {
                // Still connecting: its thread disposes it when Connect finally returns.
                _attempts.Abandon();
                return;
            }
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

        // Runs on the receive thread: reassemble, decode and hand over, nothing else.
        private void OnMessageReceived(object sender, MessageReceivedEventArgs e)
        {
            ITransportListener listener;
            MessageAssembler assembler;
            lock (_lock)
            {
                if (sender != (object)_socket) return;
                listener = _listener;
                assembler = _assembler;
            }
            if (listener == null || assembler == null) return;
            string text = assembler.Accept(KindOf(e.Frame.Fragmentation), e.Frame.MessageType == WebSocketMessageType.Text, e.Frame.Buffer, e.Frame.MessageLength);
            if (text != null) listener.OnMessage(text);
        }

        private static FrameKind KindOf(FragmentationType fragmentation)
        {
            switch (fragmentation)
            {
                case FragmentationType.FirstFragment: return FrameKind.First;
                case FragmentationType.Fragment: return FrameKind.Middle;
                case FragmentationType.FinalFragment: return FrameKind.Last;
                default: return FrameKind.Whole;
            }
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
