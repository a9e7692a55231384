namespace IotWs.Gateway.Readings;

/// <summary>A sensor reading as committed to storage (what is published and what the history API returns).</summary>
public sealed record StoredReading(
    long InsertId,
    string DeviceId,
    long? BootId,
    long? Seq,
    DateTimeOffset Timestamp,
    double Temperature,
    double Humidity,
    string? SensorId,
    string? Location);
