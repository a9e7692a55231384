namespace IotWs.Dashboard.Tests;
