using System.Text.RegularExpressions;
using IotWs.Gateway.Mqtt;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Mqtt;

/// <summary>docs/home-assistant.md lists every Gateway:Mqtt:* key with its real default, and the README links to it.</summary>
public sealed partial class HomeAssistantDocTests
{
    private static string Doc => File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "home-assistant.md"));

    [GeneratedRegex(@"^\| `(Gateway:Mqtt:[A-Za-z:]+)` \| (`[^`]*`|\(none\)) \|", RegexOptions.Multiline)]
    private static partial Regex KeyRow();

    [Fact]
    public void Every_Gateway_Mqtt_key_is_in_the_doc_with_its_default_and_nothing_else_is()
    {
        var documented = KeyRow().Matches(Doc).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value.Trim('`'));
        var actual = OptionKeys.Of(MqttBridgeOptions.Section, new MqttBridgeOptions()).ToDictionary(k => k.Key, k => k.Default);

        Assert.Equal(actual.Keys.Order(), documented.Keys.Order());
        foreach (var (key, value) in actual)
        {
            Assert.True(documented[key] == value, $"{key}: the doc says {documented[key]}, the code {value}");
        }
    }

    [Fact]
    public void The_READMEs_first_mention_of_Home_Assistant_links_to_the_guide()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));
        var first = readme.IndexOf("Home Assistant", StringComparison.Ordinal);
        Assert.True(first >= 0);
        Assert.StartsWith("Home Assistant](docs/home-assistant.md)", readme[first..], StringComparison.Ordinal);
    }
}
