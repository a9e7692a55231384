using System.Net;
using System.Net.Sockets;

namespace IotWs.Mqtt.Tests.Infrastructure;

/// <summary>A scripted broker on a loopback TcpListener, for what a real broker never does (bad bytes, silence).</summary>
internal sealed class FakeBroker : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public FakeBroker() => _listener.Start();

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public async Task<FakeConnection> AcceptAsync()
    {
        using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
        return new FakeConnection(await _listener.AcceptTcpClientAsync(timeout.Token));
    }

    public ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Dispose();
        return ValueTask.CompletedTask;
    }
}

internal sealed class FakeConnection(TcpClient tcp) : IAsyncDisposable
{
    private readonly NetworkStream _stream = tcp.GetStream();
    private readonly MqttChannel _channel = new(tcp.GetStream(), 1024 * 1024);

    public async Task<MqttPacket> ReadAsync()
    {
        using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
        return await _channel.ReadAsync(timeout.Token);
    }

    public async Task<T> ReadAsync<T>()
        where T : MqttPacket => Assert.IsType<T>(await ReadAsync());

    public async Task<ConnectPacket> AcceptConnectAsync(MqttConnectReturnCode code = MqttConnectReturnCode.Accepted)
    {
        var connect = await ReadAsync<ConnectPacket>();
        await SendAsync(new ConnAckPacket(false, code));
        return connect;
    }

    public Task SendAsync(MqttPacket packet) => SendRawAsync(MqttPacketCodec.Encode(packet));

    public async Task SendRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Waits until the client closes its side.</summary>
    public async Task WaitForCloseAsync()
    {
        var ex = await Record.ExceptionAsync(async () =>
        {
            while (true)
            {
                await ReadAsync();
            }
        });
        Assert.True(ex is EndOfStreamException or IOException, $"Expected the client to close the connection, got {ex}");
    }

    public ValueTask DisposeAsync()
    {
        tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
