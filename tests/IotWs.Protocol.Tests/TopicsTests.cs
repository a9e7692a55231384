namespace IotWs.Protocol.Tests;

public class TopicsTests
{
    [Theory]
    [InlineData("sensor_updates", "sensor_updates", true)]
    [InlineData("sensor_updates", "sensor_updates/x", false)]
    [InlineData("devices/+/readings", "devices/esp32-1/readings", true)]
    [InlineData("devices/+/readings", "devices/esp32-1/status", false)]
    [InlineData("devices/+/readings", "devices/esp32-1/readings/extra", false)]
    [InlineData("devices/+/readings", "devices/readings", false)]
    [InlineData("devices/#", "devices/esp32-1/readings", true)]
    [InlineData("devices/#", "devices", true)]
    [InlineData("devices/#", "device_status", false)]
    [InlineData("#", "anything/at/all", true)]
    [InlineData("+", "one", true)]
    [InlineData("+", "one/two", false)]
    [InlineData("+/+", "one/two", true)]
    [InlineData("+/readings", "esp/readings", true)]
    [InlineData("system_alerts", "temperature-alerts", false)]
    public void Filters_match_topics_like_mqtt(string filter, string topic, bool expected)
    {
        Assert.True(Topics.IsValidFilter(filter));
        Assert.True(Topics.IsValidTopic(topic));
        Assert.Equal(expected, Topics.Matches(filter, topic));
    }

    [Theory]
    [InlineData("a/#/b")]
    [InlineData("a+")]
    [InlineData("a/+b")]
    [InlineData("a#")]
    [InlineData("a//b")]
    [InlineData("/a")]
    [InlineData("a/")]
    [InlineData("")]
    [InlineData(null)]
    public void Malformed_filters_are_invalid(string? filter)
    {
        Assert.False(Topics.IsValidFilter(filter!));
    }

    [Theory]
    [InlineData("devices/+/readings")]
    [InlineData("devices/#")]
    [InlineData("a//b")]
    [InlineData("")]
    [InlineData("bad\u0001topic")]
    public void Wildcards_empty_levels_and_control_characters_are_not_publishable_topics(string topic)
    {
        Assert.False(Topics.IsValidTopic(topic));
    }

    [Fact]
    public void Topics_longer_than_the_limit_are_invalid()
    {
        Assert.True(Topics.IsValidTopic(new string('a', Topics.MaxLength)));
        Assert.False(Topics.IsValidTopic(new string('a', Topics.MaxLength + 1)));
        Assert.False(Topics.IsValidFilter(new string('a', Topics.MaxLength + 1)));
    }

    [Fact]
    public void The_readings_topic_is_under_the_device()
    {
        Assert.Equal("devices/esp32-1/readings", Topics.DeviceReadings("esp32-1"));
        Assert.Equal("streams/s1", Topics.Stream("s1"));
    }

    [Theory]
    [InlineData("esp32-1", "devices/esp32-1/readings", true)]
    [InlineData("esp32-1", "devices/esp32-1/a/b", true)]
    [InlineData("esp32-1", "devices/esp32-10/readings", false)]
    [InlineData("esp32-1", "devices/esp32-1", false)]
    [InlineData("esp32-1", "devices/esp32-1/", false)]
    [InlineData("esp32-1", "devices/esp32-2/readings", false)]
    [InlineData("esp32-1", "sensor_updates", false)]
    [InlineData("", "devices//readings", false)]
    public void A_device_owns_only_topics_under_its_own_id(string deviceId, string topic, bool expected)
    {
        Assert.Equal(expected, Topics.IsOwnDeviceTopic(deviceId, topic));
    }
}
