using System.Reflection;

[assembly: AssemblyTitle("IotWs.Firmware")]
[assembly: AssemblyDescription("IotWs ESP32 firmware: DHT22 readings over the IotWs WebSocket protocol")]
[assembly: AssemblyProduct("IotWs")]
[assembly: AssemblyVersion("1.0.0.0")]
