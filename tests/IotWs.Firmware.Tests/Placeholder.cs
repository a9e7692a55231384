namespace IotWs.Firmware.Tests;
