using System.CommandLine;
using IotWs.Gateway.Storage;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Cli;

/// <summary>
/// Runs the gateway: <c>serve</c>, or no verb at all. A start that cannot succeed (a bad setting, the data
/// directory or the port already in use, a missing TLS certificate) prints one "error:" line and exits 1.
/// </summary>
internal static class ServeCommand
{
    public static void AddTo(RootCommand root, CliEnvironment environment)
    {
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on, ';'-separated (default http://0.0.0.0:5080; https:// uses the certificate of `certs create`).", HelpName = "urls" };
        var simulate = new Option<int?>("--simulate") { Description = "Start N simulated boards that run the firmware's device logic against this gateway.", HelpName = "N" };
        var serve = new Command("serve", "Runs the gateway (the same as no verb). Configuration keys such as --Gateway:HeartbeatInterval=00:00:15 may follow.")
        {
            urls,
            simulate,
        };
        root.Add(urls);
        root.Add(simulate);
        root.Add(serve);
        Func<ParseResult, CancellationToken, Task<int>> run = (parse, _) => RunAsync(parse, environment, urls, simulate);
        root.SetAction(run);
        serve.SetAction(run);
    }

    private static async Task<int> RunAsync(ParseResult parse, CliEnvironment environment, Option<string> urls, Option<int?> simulate)
    {
        var args = new List<string>(environment.Settings);
        if (parse.GetValue(urls) is { } u) args.AddRange(["--urls", u]);
        if (environment.GivenDataDirectory(parse) is { } dir) args.AddRange(["--data-dir", dir]);
        if (parse.GetValue(simulate) is { } n) args.AddRange(["--simulate", n.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        try
        {
            await using var app = GatewayApp.Build([.. args]);
            await app.RunAsync();
            return ExitCodes.Ok;
        }
        catch (Exception e) when (StartFailure(e) is { } line)
        {
            environment.Error.WriteLine(line);
            return ExitCodes.Failed;
        }
        catch (Exception e)
        {
            // Unexpected: keep the whole story for the operator, but exit 1 like any failed start, not abort (134).
            environment.Error.WriteLine($"error: the gateway stopped: {e}");
            return ExitCodes.Failed;
        }
    }

    /// <summary>The one line ("Configuration error: …" or "error: …") that explains a start that cannot succeed; null for anything unexpected (that keeps its stack trace).</summary>
    internal static string? StartFailure(Exception e) => e switch
    {
        OptionsValidationException v => $"Configuration error: {string.Join(" ", v.Failures)}",
        InvalidOperationException { InnerException: FormatException or InvalidCastException or OverflowException } c => $"Configuration error: {c.InnerException!.Message} {c.Message}",
        DataDirectoryInUseException d => $"error: {d.Message}",
        Tls.TlsSetupException t => $"error: {t.Message}",
        Mqtt.EmbeddedBrokerException m => $"error: {m.Message}",
        IOException { InnerException: AddressInUseException } a => $"error: {a.Message.TrimEnd('.')} (another gateway or program listens there; choose another with --urls).",
        AggregateException { InnerExceptions.Count: 1 } g => StartFailure(g.InnerExceptions[0]),
        _ => null,
    };
}
