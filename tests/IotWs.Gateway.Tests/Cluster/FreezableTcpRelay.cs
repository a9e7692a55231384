using System.Net;
using System.Net.Sockets;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>
/// A loopback TCP relay in front of a real server whose traffic the test can freeze: while frozen no byte moves in
/// either direction, yet both connections stay open — a network path that broke without either end being told,
/// which is what a pulled cable or a dead switch looks like until a keep-alive notices.
/// </summary>
internal sealed class FreezableTcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _clients = [];
    private volatile TaskCompletionSource _thawed = Thawed();
    private readonly Task _accepting;

    public FreezableTcpRelay(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>From now on nothing is relayed until <see cref="Thaw"/>; the connections stay open.</summary>
    public void Freeze() => _thawed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Thaw() => _thawed.TrySetResult();

    private static TaskCompletionSource Thawed()
    {
        var t = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        t.SetResult();
        return t;
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
                var outbound = new TcpClient();
                await outbound.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
                lock (_clients) _clients.AddRange([inbound, outbound]);
                _ = PumpAsync(inbound.GetStream(), outbound.GetStream());
                _ = PumpAsync(outbound.GetStream(), inbound.GetStream());
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReadAsync(buffer, _stop.Token);
                if (n == 0) break;
                // Held here while frozen: the bytes read are delivered only after a thaw, as a stalled path would.
                await _thawed.Task.WaitAsync(_stop.Token);
                await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
            to.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        lock (_clients)
        {
            foreach (var c in _clients) c.Dispose();
        }
        _stop.Dispose();
    }
}
