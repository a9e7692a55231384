using System.Text.RegularExpressions;
using IotWs.Gateway.Cluster;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>docs/scale-out.md lists every Gateway:Cluster:* key with its real default, and the cluster's unit runs what the single Pi's runs.</summary>
public sealed partial class ScaleOutDocTests
{
    private static string Doc => File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "scale-out.md"));

    [GeneratedRegex(@"^\| `(Gateway:Cluster:[A-Za-z:]+)` \| ([^|]*) \|", RegexOptions.Multiline)]
    private static partial Regex KeyRow();

    [Fact]
    public void Every_Gateway_Cluster_key_is_in_the_doc_with_its_default_and_nothing_else_is()
    {
        var documented = KeyRow().Matches(Doc).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value.Trim());
        var actual = OptionKeys.Of("Gateway:Cluster", new ClusterOptions()).ToDictionary(k => k.Key, k => k.Default);

        Assert.Equal(actual.Keys.Order(), documented.Keys.Order());
        // A key without a fixed default (NodeId: host name and port) is described in words instead.
        foreach (var (key, value) in actual.Where(k => k.Value != "(none)"))
        {
            Assert.True(documented[key] == $"`{value}`", $"{key}: the doc says {documented[key]}, the code `{value}`");
        }
    }

    [Fact]
    public void The_template_unit_starts_the_gateway_as_the_single_Pi_unit_does_with_the_instance_as_port_and_data_directory()
    {
        string ExecStart(string unit) =>
            File.ReadLines(Path.Combine(RepoPaths.Root, "hardware", unit)).Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal));

        var single = ExecStart("iotws-gateway.service");
        var template = ExecStart("iotws-gateway@.service");

        Assert.Equal(single.Replace(":5080", ":%i", StringComparison.Ordinal).Replace("/var/lib/iotws", "/var/lib/iotws/%i", StringComparison.Ordinal), template);
    }
}
