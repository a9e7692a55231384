using IotWs.Firmware.Core;
using Microsoft.Extensions.Logging;

namespace IotWs.Firmware.Host;

/// <summary>The core's log port on Microsoft.Extensions.Logging, tagged with the device id.</summary>
public sealed class LoggerLog(ILogger logger, string deviceId) : ILog
{
    /// <inheritdoc/>
    public void Info(string message) => logger.LogInformation("{DeviceId}: {Message}", deviceId, message);

    /// <inheritdoc/>
    public void Warn(string message) => logger.LogWarning("{DeviceId}: {Message}", deviceId, message);
}
