using System.Diagnostics;
using System.Text;

namespace IotWs.Mqtt.Tests.Infrastructure;

/// <summary>
/// Mosquitto's own command-line clients (<c>mosquitto_sub</c>, <c>mosquitto_pub</c>) run to their exit: an MQTT
/// peer that shares no code with the gateway, as an operator would use it against a broker.
/// </summary>
internal static class MosquittoClients
{
    /// <summary>The user name the tools send; the gateway's embedded broker only looks at the password.</summary>
    public const string User = "ha";

    public sealed record Run(int ExitCode, string Out, string Err)
    {
        public string[] OutLines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Out}\nstderr:\n{Err}";
    }

    /// <summary>
    /// <c>mosquitto_sub</c> for <paramref name="seconds"/> seconds; each message printed as
    /// "{retain flag} {topic} {payload}" (so a retained one starts with "1 ").
    /// </summary>
    public static Task<Run> SubscribeAsync(int port, string? password, int seconds, string version, params string[] topics) =>
        SubscribeWithIdAsync(port, password, seconds, version, NewClientId(), topics);

    /// <summary>As above with a given client id; "" sends none (MQTT 5 lets the broker assign one, 3.1.1 does not).</summary>
    public static Task<Run> SubscribeWithIdAsync(int port, string? password, int seconds, string version, string clientId, params string[] topics)
    {
        List<string> args = ["-h", "127.0.0.1", "-p", $"{port}", "-V", version, "-W", $"{seconds}", "-F", "%r %t %p", "-q", "1"];
        if (clientId.Length > 0) args.AddRange(["-i", clientId]);
        Credentials(args, password);
        foreach (var topic in topics) args.AddRange(["-t", topic]);
        return RunAsync(MosquittoBroker.SubscriberPath, args);
    }

    /// <summary><c>mosquitto_sub</c> that exits after the first live (not retained: <c>-R</c>) message, or after <paramref name="seconds"/>.</summary>
    public static Task<Run> SubscribeFirstLiveAsync(int port, string? password, int seconds, string version, string topic)
    {
        List<string> args = ["-h", "127.0.0.1", "-p", $"{port}", "-V", version, "-i", NewClientId(), "-W", $"{seconds}", "-C", "1", "-R", "-F", "%r %t %p", "-q", "1", "-t", topic];
        Credentials(args, password);
        return RunAsync(MosquittoBroker.SubscriberPath, args);
    }

    /// <summary><c>mosquitto_pub</c> of one QoS 1 message.</summary>
    public static Task<Run> PublishAsync(int port, string? password, string version, string topic, string message, bool retain = false)
    {
        List<string> args = ["-h", "127.0.0.1", "-p", $"{port}", "-V", version, "-i", NewClientId(), "-q", "1", "-t", topic, "-m", message];
        if (retain) args.Add("-r");
        Credentials(args, password);
        return RunAsync(MosquittoBroker.PublisherPath, args);
    }

    public static async Task<Run> RunAsync(string path, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(path, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{path} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            Assert.Fail($"{path} {string.Join(' ', info.ArgumentList)} did not exit within 30 s: {await stdout}{await stderr}");
        }

        return new Run(process.ExitCode, await stdout, await stderr);
    }

    private static string NewClientId() => $"tool-{Guid.NewGuid():N}"[..20];

    private static void Credentials(List<string> args, string? password)
    {
        if (password is not null) args.AddRange(["-u", User, "-P", password]);
    }
}
