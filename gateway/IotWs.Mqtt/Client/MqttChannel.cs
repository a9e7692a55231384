namespace IotWs.Mqtt;

/// <summary>Frames packets over a byte stream with <see cref="MqttPacketCodec"/>: one reader and one writer may use it at once.</summary>
internal sealed class MqttChannel(Stream stream, int maxPacketSize)
{
    private readonly byte[] _buffer = new byte[4096];
    private int _start;
    private int _end;

    public async ValueTask<MqttPacket> ReadAsync(CancellationToken cancellationToken)
    {
        var header = await ReadByteAsync(cancellationToken);
        var lengthBytes = new byte[4];
        int length;
        var count = 0;
        // TryReadRemainingLength throws once four bytes all carry the continuation bit.
        do
        {
            lengthBytes[count++] = await ReadByteAsync(cancellationToken);
        }
        while (!MqttPacketCodec.TryReadRemainingLength(lengthBytes.AsSpan(0, count), out length, out _));

        if (length > maxPacketSize)
        {
            throw new MqttMalformedPacketException($"A {length}-byte packet exceeds the {maxPacketSize}-byte limit.");
        }

        var body = new byte[length];
        var buffered = Math.Min(length, _end - _start);
        _buffer.AsSpan(_start, buffered).CopyTo(body);
        _start += buffered;
        if (buffered < length)
        {
            await stream.ReadExactlyAsync(body.AsMemory(buffered), cancellationToken);
        }

        return MqttPacketCodec.DecodeBody(header, body);
    }

    public async ValueTask WriteAsync(MqttPacket packet, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(MqttPacketCodec.Encode(packet), cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    private async ValueTask<byte> ReadByteAsync(CancellationToken cancellationToken)
    {
        if (_start == _end)
        {
            _start = 0;
            _end = await stream.ReadAsync(_buffer, cancellationToken);
            if (_end == 0)
            {
                throw new EndOfStreamException("The broker closed the connection.");
            }
        }

        return _buffer[_start++];
    }
}
