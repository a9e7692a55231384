using IotWs.Gateway.Cli;

// Every verb, serve included, goes through the command line parser: --help everywhere, a mistyped verb is an
// error (exit 2) rather than a server start, and a start that cannot succeed is one line and exit 1.
return await GatewayCli.RunAsync(args, Console.Out, Console.Error);

/// <summary>Entry point, visible to tests (WebApplicationFactory).</summary>
public partial class Program;
