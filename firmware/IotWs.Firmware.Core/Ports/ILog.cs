namespace IotWs.Firmware.Core
{
    /// <summary>Diagnostic output (Debug.WriteLine on the ESP32, ILogger on .NET).</summary>
    public interface ILog
    {
        /// <summary>Something worth knowing happened.</summary>
        void Info(string message);

        /// <summary>Something went wrong and the core is coping with it.</summary>
        void Warn(string message);
    }
}
