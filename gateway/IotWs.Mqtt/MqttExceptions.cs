namespace IotWs.Mqtt;

/// <summary>Base of the errors this MQTT library reports.</summary>
public class MqttException : Exception
{
    public MqttException() { }
    public MqttException(string message) : base(message) { }
    public MqttException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>Bytes that are not a well-formed MQTT 3.1.1 packet (the spec says: close the connection).</summary>
public sealed class MqttMalformedPacketException : MqttException
{
    public MqttMalformedPacketException() { }
    public MqttMalformedPacketException(string message) : base(message) { }
    public MqttMalformedPacketException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>The broker answered CONNECT with a non-zero return code.</summary>
public sealed class MqttConnectionRefusedException : MqttException
{
    public MqttConnectionRefusedException() { }
    public MqttConnectionRefusedException(string message) : base(message) { }
    public MqttConnectionRefusedException(string message, Exception innerException) : base(message, innerException) { }

    public MqttConnectionRefusedException(MqttConnectReturnCode returnCode)
        : base($"The broker refused the connection: {returnCode} ({(byte)returnCode}).")
    {
        ReturnCode = returnCode;
    }

    public MqttConnectReturnCode ReturnCode { get; }

    /// <summary>Refusals that retrying with the same options cannot fix (all but ServerUnavailable).</summary>
    public bool IsPermanent => ReturnCode is not MqttConnectReturnCode.ServerUnavailable;
}
