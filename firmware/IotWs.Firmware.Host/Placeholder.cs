namespace IotWs.Firmware.Host;
