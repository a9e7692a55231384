namespace IotWs.Mqtt;
