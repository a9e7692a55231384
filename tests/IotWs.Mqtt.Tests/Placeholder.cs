namespace IotWs.Mqtt.Tests;
