using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;
using IotWs.Firmware.Core;

namespace IotWs.Firmware.Host;

/// <summary>
/// The core's transport on System.Net.WebSockets.ClientWebSocket: connects in the background,
/// a receive loop reassembles fragmented text messages and reports them, and a bounded send
/// queue drained by one writer makes Send refuse instead of growing without limit.
/// </summary>
public sealed class WebSocketTransport : ITransport
{
    private readonly Lock _lock = new();
    private readonly TimeSpan _connectTimeout;
    private readonly int _sendQueueCapacity;
    private readonly int _maxMessageBytes;
    private readonly CertificatePin? _pin;
    private Link? _link;
    private Link? _closing;

    /// <summary>
    /// Creates a transport; one link at a time, a new ClientWebSocket per connection. With a pin, a wss:// link
    /// accepts only the pinned gateway certificate (as the ESP32 does with config.json tlsCertificate).
    /// </summary>
    public WebSocketTransport(TimeSpan? connectTimeout = null, int sendQueueCapacity = 128, int maxMessageBytes = 65536, CertificatePin? pin = null)
    {
        _connectTimeout = connectTimeout ?? TimeSpan.FromSeconds(10);
        _sendQueueCapacity = sendQueueCapacity;
        _maxMessageBytes = maxMessageBytes;
        _pin = pin;
    }

    /// <inheritdoc/>
    public bool Connect(string url, ITransportListener listener)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "ws" && uri.Scheme != "wss")) return false;
        var link = new Link(listener, _sendQueueCapacity, _maxMessageBytes, _pin);
        Link? old;
        lock (_lock)
        {
            old = _link;
            _link = link;
        }
        old?.Abort();
        link.Start(uri, _connectTimeout);
        return true;
    }

    /// <inheritdoc/>
    public bool Send(string text)
    {
        Link? link;
        lock (_lock) link = _link;
        return link is not null && link.TrySend(text);
    }

    /// <inheritdoc/>
    public void Close(int closeCode)
    {
        Link? link;
        lock (_lock)
        {
            link = _link;
            _link = null;
            if (link is not null) _closing = link;
        }
        link?.BeginClose(closeCode);
    }

    /// <summary>Cuts the current link without a close handshake, as a lost WiFi would.</summary>
    public void Abort()
    {
        Link? link;
        lock (_lock) link = _link;
        link?.Abort();
    }

    /// <summary>Closes the current link politely and waits (a few seconds at most) until links are gone.</summary>
    public async Task ShutdownAsync()
    {
        Link? link;
        Link? closing;
        lock (_lock)
        {
            link = _link;
            closing = _closing;
            _link = null;
            _closing = null;
        }
        link?.BeginClose((int)WebSocketCloseStatus.EndpointUnavailable);
        var pending = new[] { link?.Finished, closing?.Finished }.OfType<Task>().ToArray();
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
    }

    /// <summary>One connection: its socket, send queue and loops.</summary>
    private sealed class Link(ITransportListener listener, int sendQueueCapacity, int maxMessageBytes, CertificatePin? pin) : IDisposable
    {
        private readonly ClientWebSocket _socket = Socket(pin);
        private readonly CancellationTokenSource _stop = new();
        private readonly Channel<string> _outbox = Channel.CreateBounded<string>(
            new BoundedChannelOptions(sendQueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _reported;
        private volatile bool _open;

        public Task Finished => _finished.Task;

        private static ClientWebSocket Socket(CertificatePin? pin)
        {
            var socket = new ClientWebSocket();
            // The pin decides alone: a self-signed gateway certificate fails every chain check, and a CA-signed
            // certificate other than the pinned one is refused.
            if (pin is not null) socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) => pin.Matches(certificate);
            return socket;
        }

        public void Start(Uri uri, TimeSpan connectTimeout) => _ = Task.Run(() => RunAsync(uri, connectTimeout));

        public bool TrySend(string text) => _open && _outbox.Writer.TryWrite(text);

        public void BeginClose(int closeCode)
        {
            _open = false;
            _outbox.Writer.TryComplete();
            _ = Task.Run(async () =>
            {
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                    if (_socket.State == WebSocketState.Open)
                        await _socket.CloseOutputAsync((WebSocketCloseStatus)closeCode, null, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Closing a link that is already broken: nothing left to do but drop it.
                }
                finally
                {
                    // Give the peer's close frame a moment to arrive, then stop the loops regardless.
                    await Task.WhenAny(_finished.Task, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
                    Abort();
                }
            });
        }

        public void Abort()
        {
            _open = false;
            _outbox.Writer.TryComplete();
            try
            {
                _stop.Cancel();
                _socket.Abort();
            }
            catch (ObjectDisposedException)
            {
                // Already finished.
            }
        }

        private async Task RunAsync(Uri uri, TimeSpan connectTimeout)
        {
            var closeCode = DeviceCore.AbnormalClosure;
            try
            {
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
                {
                    timeout.CancelAfter(connectTimeout);
                    await _socket.ConnectAsync(uri, timeout.Token).ConfigureAwait(false);
                }
                _open = true;
                listener.OnOpened();
                var sending = SendLoopAsync();
                closeCode = await ReceiveLoopAsync().ConfigureAwait(false);
                _open = false;
                _outbox.Writer.TryComplete();
                await sending.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Refused, reset, timed out or aborted: all the same to the core, an abnormal close.
            }
            finally
            {
                _open = false;
                Report(closeCode);
                Dispose();
                _finished.TrySetResult();
            }
        }

        private async Task SendLoopAsync()
        {
            try
            {
                await foreach (var text in _outbox.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
                {
                    await _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception)
            {
                // A broken send ends the link; the receive loop sees it and reports the close.
                Abort();
            }
        }

        private async Task<int> ReceiveLoopAsync()
        {
            var buffer = ArrayPool<byte>.Shared.Rent(8192);
            var message = new ArrayBufferWriter<byte>(8192);
            try
            {
                while (true)
                {
                    var result = await _socket.ReceiveAsync(buffer.AsMemory(), _stop.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        var status = _socket.CloseStatus;
                        try
                        {
                            if (_socket.State == WebSocketState.CloseReceived)
                                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
                        }
                        catch (Exception)
                        {
                            // The peer already left; its status is what matters.
                        }
                        return status.HasValue ? (int)status.Value : DeviceCore.AbnormalClosure;
                    }
                    if (message.WrittenCount + result.Count > maxMessageBytes) return (int)WebSocketCloseStatus.MessageTooBig;
                    message.Write(buffer.AsSpan(0, result.Count));
                    if (!result.EndOfMessage) continue;
                    if (result.MessageType == WebSocketMessageType.Text) listener.OnMessage(Encoding.UTF8.GetString(message.WrittenSpan));
                    message.ResetWrittenCount();
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        public void Dispose()
        {
            _socket.Dispose();
            _stop.Dispose();
        }

        private void Report(int closeCode)
        {
            if (Interlocked.Exchange(ref _reported, 1) == 0) listener.OnClosed(closeCode);
        }
    }
}
