namespace IotWs.Mqtt;

/// <summary>Topic name and topic filter rules (spec 4.7 and 1.5.3).</summary>
public static class MqttTopic
{
    /// <summary>A topic one publishes to: at least one character, no wildcards, no U+0000.</summary>
    public static bool IsValidTopicName(string topic) =>
        !string.IsNullOrEmpty(topic) && topic.IndexOfAny(['+', '#', '\0']) < 0;

    /// <summary>A subscription filter: '+' fills a whole level, '#' only the whole last level.</summary>
    public static bool IsValidTopicFilter(string filter)
    {
        if (string.IsNullOrEmpty(filter) || filter.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }

        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Contains('+', StringComparison.Ordinal) && level.Length != 1)
            {
                return false;
            }

            if (level.Contains('#', StringComparison.Ordinal) && (level.Length != 1 || i != levels.Length - 1))
            {
                return false;
            }
        }

        return true;
    }
}
