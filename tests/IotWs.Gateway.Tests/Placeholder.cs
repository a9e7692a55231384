namespace IotWs.Gateway.Tests;
