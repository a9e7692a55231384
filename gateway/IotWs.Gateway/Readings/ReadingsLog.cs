namespace IotWs.Gateway.Readings;

/// <summary>Log messages of the readings feature (source-generated).</summary>
internal static partial class ReadingsLog
{
    // No template is given a null: it would print "(null)". Who sent it is the principal (an API key has no device).
    [LoggerMessage(101, LogLevel.Debug, "{Principal} (client {ClientId}): reading {Seq} refused: {Reason}")]
    public static partial void Refused(ILogger logger, string principal, string clientId, string seq, string reason);

    [LoggerMessage(102, LogLevel.Error, "Commit of {Requests} store requests failed; they were answered internal_error and nothing of them was stored")]
    public static partial void CommitFailed(ILogger logger, Exception e, int requests);

    [LoggerMessage(103, LogLevel.Error, "Readings writer stopped unexpectedly")]
    public static partial void WriterFailed(ILogger logger, Exception e);

    [LoggerMessage(104, LogLevel.Warning, "Writing pending index runs at shutdown failed; the next start recovers them")]
    public static partial void FlushFailed(ILogger logger, Exception e);

    [LoggerMessage(105, LogLevel.Warning, "Shutdown did not wait for {Queued} queued readings to be committed; their devices will send them again")]
    public static partial void DrainTimedOut(ILogger logger, int queued);

    [LoggerMessage(106, LogLevel.Error, "Answering a store request failed")]
    public static partial void CompletionFailed(ILogger logger, Exception e);

    [LoggerMessage(107, LogLevel.Error, "Publishing a stored reading of {DeviceId} failed")]
    public static partial void FanoutFailed(ILogger logger, Exception e, string deviceId);

    [LoggerMessage(108, LogLevel.Information, "Retention sweep deleted {Readings} readings, {Events} events, {Minutes} one-minute and {Hours} one-hour rollups")]
    public static partial void Swept(ILogger logger, long readings, long events, long minutes, long hours);

    [LoggerMessage(109, LogLevel.Error, "Retention sweep failed")]
    public static partial void SweepFailed(ILogger logger, Exception e);

    [LoggerMessage(110, LogLevel.Information, "Client {ClientId} ({Principal}) sent data while the gateway was stopping; not stored")]
    public static partial void Closed(ILogger logger, string clientId, string principal);
}
