using IotWs.Simulator;

namespace IotWs.Firmware.Tests;

public class SimulatorArgumentsTests
{
    [Fact]
    public void The_documented_command_line_parses()
    {
        var a = SimulatorArguments.Parse(
            ["--url", "ws://pi.local:5080/ws", "--tokens", "devices.jsonl", "--interval-ms", "5000", "--heartbeat-ms=20000",
             "--sensor-failure-rate", "0.1", "--drop-link-every-s", "30", "--state-dir", "/tmp/sim"], out var error, out var help);

        Assert.Null(error);
        Assert.False(help);
        Assert.NotNull(a);
        Assert.Equal(new Uri("ws://pi.local:5080/ws"), a.Url);
        Assert.Equal(TimeSpan.FromSeconds(5), a.Interval);
        Assert.Equal(TimeSpan.FromSeconds(20), a.Heartbeat);
        Assert.Equal(0.1, a.SensorFailureRate);
        Assert.Equal(TimeSpan.FromSeconds(30), a.DropLinkEvery);
        Assert.Equal("/tmp/sim", a.StateDirectory);
    }

    [Fact]
    public void Defaults_match_the_product_description()
    {
        var a = SimulatorArguments.Parse(["--url", "ws://h/ws", "--tokens", "d.jsonl"], out _, out _)!;

        Assert.Equal(TimeSpan.FromSeconds(2), a.Interval);
        Assert.Equal(TimeSpan.FromSeconds(30), a.Heartbeat);
        Assert.Equal(0.02, a.SensorFailureRate);
        Assert.Null(a.DropLinkEvery);
    }

    [Theory]
    [InlineData(new[] { "--tokens", "d" }, "--url and --tokens are required")]
    [InlineData(new[] { "--url", "http://h/ws", "--tokens", "d" }, "--url must be a ws:// or wss:// URL")]
    [InlineData(new[] { "--url", "ws://h/ws", "--tokens", "d", "--interval-ms", "1000" }, "--interval-ms must be a whole number between 2000 and 3600000")]
    [InlineData(new[] { "--url", "ws://h/ws", "--tokens", "d", "--heartbeat-ms", "x" }, "--heartbeat-ms must be a whole number between 5000 and 600000")]
    [InlineData(new[] { "--url", "ws://h/ws", "--tokens", "d", "--sensor-failure-rate", "1.5" }, "--sensor-failure-rate must be a number between 0 and 1")]
    [InlineData(new[] { "--url", "ws://h/ws", "--tokens", "d", "--drop-link-every-s", "0" }, "--drop-link-every-s must be a whole number of seconds, at least 1")]
    [InlineData(new[] { "--url", "ws://h/ws", "--tokens" }, "--tokens needs a value")]
    [InlineData(new[] { "--url", "ws://h/ws", "--tokens", "d", "--boards", "5" }, "unknown option --boards")]
    public void Bad_arguments_are_refused_with_a_clear_reason(string[] args, string expected)
    {
        Assert.Null(SimulatorArguments.Parse(args, out var error, out var help));
        Assert.False(help);
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Help_is_recognised()
    {
        Assert.Null(SimulatorArguments.Parse(["--help"], out var error, out var help));
        Assert.True(help);
        Assert.Null(error);
    }

    [Fact]
    public void The_tokens_file_is_read_as_json_lines_printed_by_devices_add()
    {
        var devices = DeviceCredentialsFile.Parse(
            ["{\"deviceId\":\"esp32-1\",\"token\":\"abc\"}", "", "  {\"deviceId\":\"esp32-2\",\"token\":\"def\",\"name\":\"ignored\"}  "], out var error);

        Assert.Null(error);
        Assert.NotNull(devices);
        Assert.Equal(["esp32-1", "esp32-2"], devices.Select(d => d.DeviceId));
        Assert.Equal("def", devices[1].Token);
    }

    [Theory]
    [InlineData(new[] { "not json" }, "line 1: not valid JSON")]
    [InlineData(new[] { "{\"deviceId\":\"a\",\"token\":\"t\"}", "{\"deviceId\":\"b\"}" }, "line 2: needs string fields deviceId and token")]
    [InlineData(new[] { "{\"deviceId\":\"a\",\"token\":\"t\"}", "{\"deviceId\":\"a\",\"token\":\"u\"}" }, "line 2: device a is listed twice")]
    [InlineData(new[] { "" }, "no devices in the tokens file")]
    public void A_bad_tokens_file_is_refused_with_the_line_number(string[] lines, string expected)
    {
        Assert.Null(DeviceCredentialsFile.Parse(lines, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Several_gateways_are_taken_comma_separated_or_as_repeated_url_options()
    {
        var a = SimulatorArguments.Parse(["--url", "ws://a:5080/ws,ws://b:5080/ws", "--url=ws://c:5080/ws", "--tokens", "d.jsonl"], out var error, out _)!;

        Assert.Null(error);
        Assert.Equal([new Uri("ws://a:5080/ws"), new Uri("ws://b:5080/ws"), new Uri("ws://c:5080/ws")], a.Urls);
        Assert.Equal(new Uri("ws://a:5080/ws"), a.Url);
        Assert.Equal([new Uri("ws://h/ws")], SimulatorArguments.Parse(["--url", "ws://h/ws", "--tokens", "d"], out _, out _)!.Urls);
    }

    [Theory]
    [InlineData("ws://a/ws,http://b/ws", "--url must be a ws:// or wss:// URL")]
    [InlineData("ws://1/ws,ws://2/ws,ws://3/ws,ws://4/ws,ws://5/ws,ws://6/ws,ws://7/ws,ws://8/ws,ws://9/ws", "--url takes at most 8 gateways")]
    public void A_bad_gateway_list_is_refused(string urls, string expected)
    {
        Assert.Null(SimulatorArguments.Parse(["--url", urls, "--tokens", "d"], out var error, out _));
        Assert.Equal(expected, error);
    }
}
