using IotWs.Firmware.Core;

namespace IotWs.Firmware.Host;

/// <summary>Failure injection in front of a real transport: an unreachable gateway and dropped links.</summary>
public sealed class SimulatedNetwork(WebSocketTransport inner) : ITransport
{
    private volatile bool _unreachable;

    /// <summary>While true, connections fail at once and an open link is cut.</summary>
    public bool Unreachable
    {
        get => _unreachable;
        set
        {
            _unreachable = value;
            if (value) inner.Abort();
        }
    }

    /// <summary>Cuts the current link without a close handshake.</summary>
    public void DropLink() => inner.Abort();

    /// <inheritdoc/>
    public bool Connect(string url, ITransportListener listener) => !_unreachable && inner.Connect(url, listener);

    /// <inheritdoc/>
    public bool Send(string text) => !_unreachable && inner.Send(text);

    /// <inheritdoc/>
    public void Close(int closeCode) => inner.Close(closeCode);
}
