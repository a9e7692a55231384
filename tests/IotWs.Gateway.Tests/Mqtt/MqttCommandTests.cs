using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.Rpc;
using IotWs.Mqtt.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Mqtt;

/// <summary>
/// Technician commands over MQTT (Gateway:Mqtt:Commands) through a real Mosquitto: a command topic in, the same
/// RPC path as POST /api/devices/{id}/rpc with its audit entry, the result topic out.
/// </summary>
public sealed class MqttCommandTests
{
    private const string Filter = "iotws/+/command/+";

    private static string[] Commands(MosquittoBroker broker, string keyName) =>
        MqttBridgeTests.Bridge(broker, "Mqtt:Commands:Enabled=true", $"Mqtt:Commands:ApiKeyName={keyName}");

    [MosquittoFact]
    public async Task A_command_runs_as_the_configured_key_with_an_audit_entry_and_its_result_is_published()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, Commands(broker, "ha-tech"));
        gateway.AddKey("technician", "ha-tech");
        var token = gateway.AddDevice("esp-attic");
        await using var device = await gateway.ConnectDeviceAsync("esp-attic", token);
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/esp-attic/command/#");
        // The broker's own log says when the bridge's subscription is in place.
        await broker.WaitForLogAsync(Filter);

        await inbox.PublishAsync("iotws/esp-attic/command/get_sensor_status", """{"data":{"verbose":true},"timeoutMs":5000}""");
        var request = await device.ReceiveAsync("request");
        Assert.Equal("get_sensor_status", request.GetProperty("endpoint").GetString());
        Assert.True(request.GetProperty("data").GetProperty("verbose").GetBoolean());
        await RpcSteps.AnswerAsync(device, request, new { temperature = 21.5, humidity = 40 });

        var published = await inbox.WaitForAsync("iotws/esp-attic/command/get_sensor_status/result");
        Assert.False(published.Retain);
        var result = JsonDocument.Parse(published.Payload).RootElement;
        Assert.Equal(request.GetProperty("requestId").GetString(), result.GetProperty("id").GetString());
        Assert.Equal("succeeded", result.GetProperty("status").GetString());
        Assert.Equal(21.5, result.GetProperty("result").GetProperty("temperature").GetDouble());
        Assert.Equal("ha-tech", result.GetProperty("caller").GetString());
        Assert.Equal("technician", result.GetProperty("role").GetString());

        // The audit log has the call under the configured key, as if the technician had used the REST API.
        using var admin = gateway.Http(gateway.AddKey("admin"));
        var audit = JsonDocument.Parse(await admin.GetStringAsync("/api/rpc")).RootElement;
        var entry = Assert.Single(audit.EnumerateArray());
        Assert.Equal(result.GetProperty("id").GetString(), entry.GetProperty("id").GetString());
        Assert.Equal("ha-tech", entry.GetProperty("caller").GetString());
        Assert.Equal("esp-attic", entry.GetProperty("deviceId").GetString());
        Assert.Equal("succeeded", entry.GetProperty("status").GetString());
    }

    [MosquittoFact]
    public async Task A_command_under_a_viewer_key_is_refused_with_a_result_that_says_so_and_never_reaches_the_device()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, Commands(broker, "ha-viewer"));
        gateway.AddKey("viewer", "ha-viewer");
        var token = gateway.AddDevice("esp-shed");
        await using var device = await gateway.ConnectDeviceAsync("esp-shed", token);
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/esp-shed/command/#");
        await broker.WaitForLogAsync(Filter);

        await inbox.PublishAsync("iotws/esp-shed/command/reboot", "{}");

        var result = JsonDocument.Parse((await inbox.WaitForAsync("iotws/esp-shed/command/reboot/result")).Payload).RootElement;
        Assert.Equal("forbidden", result.GetProperty("error").GetString());
        Assert.Equal("API key 'ha-viewer' has role 'viewer', which may not call devices.", result.GetProperty("message").GetString());
        using var admin = gateway.Http(gateway.AddKey("admin"));
        Assert.Equal("[]", await admin.GetStringAsync("/api/rpc"));
        // The refusal comes before any call is made: the audit log is empty and the device hears nothing.
        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(500)));
    }

    [MosquittoFact]
    public async Task A_command_key_that_does_not_exist_or_was_revoked_is_named_in_the_result()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, Commands(broker, "ha-gone"));
        gateway.AddDevice("esp-loft");
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/esp-loft/command/#");
        await broker.WaitForLogAsync(Filter);

        await inbox.PublishAsync("iotws/esp-loft/command/ping", "");

        var result = JsonDocument.Parse((await inbox.WaitForAsync("iotws/esp-loft/command/ping/result")).Payload).RootElement;
        Assert.Equal("forbidden", result.GetProperty("error").GetString());
        Assert.Equal("Gateway:Mqtt:Commands:ApiKeyName 'ha-gone' is not an active API key: add it with 'keys add ha-gone --role technician'.", result.GetProperty("message").GetString());

        // The key is looked up for every command: one revoked after the start is refused the same way.
        gateway.AddKey("technician", "ha-gone");
        gateway.Identities.RevokeKey("ha-gone");
        await inbox.PublishAsync("iotws/esp-loft/command/identify", "");
        var revoked = JsonDocument.Parse((await inbox.WaitForAsync("iotws/esp-loft/command/identify/result")).Payload).RootElement;
        Assert.Equal("forbidden", revoked.GetProperty("error").GetString());
        using var admin = gateway.Http(gateway.AddKey("admin"));
        Assert.Equal("[]", await admin.GetStringAsync("/api/rpc"));
    }

    [MosquittoFact]
    public async Task A_bad_command_payload_gets_validation_failed_on_the_result_topic()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, Commands(broker, "ha-tech"));
        gateway.AddKey("technician", "ha-tech");
        gateway.AddDevice("esp-porch");
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "iotws/esp-porch/command/#");
        await broker.WaitForLogAsync(Filter);

        await inbox.PublishAsync("iotws/esp-porch/command/ping", "not json");
        var bad = JsonDocument.Parse((await inbox.WaitForAsync("iotws/esp-porch/command/ping/result")).Payload).RootElement;
        Assert.Equal("validation_failed", bad.GetProperty("error").GetString());
        Assert.StartsWith("The payload is not valid JSON", bad.GetProperty("message").GetString(), StringComparison.Ordinal);

        await inbox.PublishAsync("iotws/esp-porch/command/identify", """{"endpoint":"reboot"}""");
        var mismatch = JsonDocument.Parse((await inbox.WaitForAsync("iotws/esp-porch/command/identify/result")).Payload).RootElement;
        Assert.Equal("The payload names endpoint 'reboot', the topic 'identify'.", mismatch.GetProperty("message").GetString());
        using var admin = gateway.Http(gateway.AddKey("admin"));
        Assert.Equal("[]", await admin.GetStringAsync("/api/rpc"));
    }

    [MosquittoFact]
    public async Task With_commands_enabled_each_device_gets_a_Reboot_button_whose_press_reboots_it()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, Commands(broker, "ha-tech"));
        gateway.AddKey("technician", "ha-tech");
        var token = gateway.AddDevice("esp-cellar");
        await using var device = await gateway.ConnectDeviceAsync("esp-cellar", token);
        await broker.WaitForLogAsync(Filter);
        var bridge = gateway.Service<IotWs.Gateway.Mqtt.MqttBridge>();
        await Eventually.UntilAsync(() => bridge.QueueDepth == 0, "the broker acknowledged the discovery");
        // Subscribed afterwards, as Home Assistant starting later would: the button is retained.
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "homeassistant/button/#", "iotws/esp-cellar/command/#");

        var button = await inbox.WaitForAsync("homeassistant/button/esp-cellar_reboot/config");
        Assert.True(button.Retain);
        var config = JsonDocument.Parse(button.Payload).RootElement;
        Assert.Equal("restart", config.GetProperty("device_class").GetString());
        Assert.Equal("iotws_esp-cellar_reboot", config.GetProperty("unique_id").GetString());
        Assert.Equal("all", config.GetProperty("availability_mode").GetString());
        Assert.Equal(["iotws/gateway/availability", "iotws/esp-cellar/availability"], config.GetProperty("availability").EnumerateArray().Select(a => a.GetProperty("topic").GetString()));
        Assert.Equal("iotws_esp-cellar", config.GetProperty("device").GetProperty("identifiers")[0].GetString());

        // What Home Assistant does when the button is pressed.
        await inbox.PublishAsync(config.GetProperty("command_topic").GetString()!, config.GetProperty("payload_press").GetString()!);
        var request = await device.ReceiveAsync("request");
        Assert.Equal("reboot", request.GetProperty("endpoint").GetString());
        await RpcSteps.AnswerAsync(device, request, new { message = "Rebooting in 3 seconds" });
        var result = JsonDocument.Parse((await inbox.WaitForAsync("iotws/esp-cellar/command/reboot/result")).Payload).RootElement;
        Assert.Equal("rebooting", result.GetProperty("status").GetString());
    }

    [MosquittoFact]
    public async Task Commands_are_off_by_default_no_subscription_no_button_and_a_command_reaches_nobody()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, MqttBridgeTests.Bridge(broker));
        gateway.AddKey("technician", "ha-tech");
        var token = gateway.AddDevice("esp-garage");
        await using var inbox = await Inbox.SubscribeAsync(broker.Port, "homeassistant/button/#", "iotws/#");
        await using var device = await gateway.ConnectDeviceAsync("esp-garage", token);
        await inbox.WaitForAsync("iotws/esp-garage/availability", "online");

        // An empty retained config removes a Reboot button a former configuration left in Home Assistant.
        Assert.Empty((await inbox.WaitForAsync("homeassistant/button/esp-garage_reboot/config")).Payload);
        await inbox.PublishAsync("iotws/esp-garage/command/reboot", "{}");
        await inbox.PublishAsync("iotws/marker", "after the command");
        await inbox.WaitForAsync("iotws/marker");
        // The broker's log lists every subscription: the gateway made none on command topics.
        Assert.DoesNotContain("command", broker.ReadLog(), StringComparison.Ordinal);
        Assert.True(await device.NothingOfTypeAsync("request", TimeSpan.FromMilliseconds(500)));
        Assert.Null(inbox.Last("iotws/esp-garage/command/reboot/result"));
        using var admin = gateway.Http(gateway.AddKey("admin"));
        Assert.Equal("[]", await admin.GetStringAsync("/api/rpc"));
        var status = JsonDocument.Parse(await admin.GetStringAsync("/api/status")).RootElement.GetProperty("mqtt");
        Assert.False(status.GetProperty("commands").GetBoolean());
    }
}
