using IotWs.Gateway;
using IotWs.Gateway.Cli;
using Microsoft.Extensions.Options;

if (GatewayCli.IsCommand(args)) return GatewayCli.Run(args, Console.Out, Console.Error);

try
{
    await GatewayApp.Build(args).RunAsync();
    return 0;
}
catch (Exception e) when (e is OptionsValidationException or InvalidOperationException { InnerException: FormatException or InvalidCastException or OverflowException })
{
    // A bad setting stops the gateway with one clear line, not a stack trace.
    Console.Error.WriteLine($"Configuration error: {(e is OptionsValidationException v ? string.Join(" ", v.Failures) : e.InnerException!.Message + " " + e.Message)}");
    return 1;
}

/// <summary>Entry point, visible to tests (WebApplicationFactory).</summary>
public partial class Program;
