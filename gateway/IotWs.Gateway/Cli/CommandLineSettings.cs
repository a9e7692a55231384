namespace IotWs.Gateway.Cli;

/// <summary>
/// Separates ASP.NET Core configuration keys on the command line (<c>--Gateway:HeartbeatInterval=00:00:15</c>,
/// <c>--Logging:LogLevel:Default Warning</c>) from the verbs and options that System.CommandLine parses.
/// A configuration key is recognised by the ':' of its section path; every other token is the parser's,
/// so a mistyped verb or option is still an error rather than a setting.
/// </summary>
internal static class CommandLineSettings
{
    public static (string[] Command, string[] Settings) Split(IReadOnlyList<string> args)
    {
        var command = new List<string>();
        var settings = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var token = args[i];
            if (!IsSetting(token))
            {
                command.Add(token);
                continue;
            }
            settings.Add(token);
            // "--Section:Key value": the value is the next token unless it is itself an option.
            if (!token.Contains('=', StringComparison.Ordinal) && i + 1 < args.Count && !args[i + 1].StartsWith('-'))
            {
                settings.Add(args[++i]);
            }
        }
        return ([.. command], [.. settings]);
    }

    private static bool IsSetting(string token)
    {
        if (!token.StartsWith("--", StringComparison.Ordinal)) return false;
        var end = token.IndexOf('=', StringComparison.Ordinal);
        var key = end < 0 ? token[2..] : token[2..end];
        return key.Contains(':', StringComparison.Ordinal) && !key.StartsWith(':');
    }
}
