using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using IotWs.Gateway.Identity;

namespace IotWs.Gateway.Cli;

/// <summary>
/// The gateway's command line (System.CommandLine): <c>serve</c> (also with no verb), the provisioning verbs
/// (<c>devices …</c>, <c>keys …</c>, <c>certs …</c>) that print JSON on stdout, one object per line, and
/// <c>--help</c> on each. Configuration keys (<c>--Gateway:X=…</c>) pass through to ASP.NET Core configuration.
/// </summary>
public static class GatewayCli
{
    /// <summary>Runs a verb synchronously (tests, load-test provisioning); returns the exit code (<see cref="ExitCodes"/>).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => RunAsync(args, stdout, stderr).GetAwaiter().GetResult();

    /// <summary>Parses args and runs the verb, or the gateway itself; returns the process exit code (<see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var (command, settings) = CommandLineSettings.Split(args);
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Data directory holding iotws.db, admin.key and tls/ (default: Gateway:DataDirectory, ./data, relative to the current directory).",
            HelpName = "dir",
            Recursive = true,
        };
        var environment = new CliEnvironment(stdout, stderr, settings, dataDir);
        var root = new RootCommand("IotWs gateway: runs the gateway (no verb, or serve) and provisions devices, API keys and its TLS certificate.")
        {
            dataDir,
        };
        root.HelpName = "IotWs.Gateway";
        ServeCommand.AddTo(root, environment);
        root.Add(DeviceCommands.Create(environment));
        root.Add(KeyCommands.Create(environment));
        root.Add(CertCommands.Create(environment));
        AddExitCodesToHelp(root);

        var parse = root.Parse(command, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Errors.Count > 0 && parse.Action is not HelpWithExitCodes) return ReportUsageErrors(parse, stderr);
        // Serve handles SIGINT/SIGTERM itself (the host's console lifetime), so the parser must not.
        return await parse.InvokeAsync(new InvocationConfiguration
        {
            Output = stdout,
            Error = stderr,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        });
    }

    /// <summary>Runs a verb with its context; a refusal of the identity store is one "error:" line and exit code 1.</summary>
    internal static void SetVerbAction(this Command command, CliEnvironment environment, Func<VerbContext, int> action) =>
        command.SetAction(parse =>
        {
            try
            {
                return action(new VerbContext(parse, environment));
            }
            catch (Exception e) when (e is IdentityException or VerbException)
            {
                environment.Error.WriteLine($"error: {e.Message}");
                return ExitCodes.Failed;
            }
        });

    /// <summary>One "error:" line per problem, a suggestion for a mistyped verb or option, and where help is.</summary>
    private static int ReportUsageErrors(ParseResult parse, TextWriter stderr)
    {
        var command = parse.CommandResult.Command;
        var unmatched = parse.UnmatchedTokens;
        var reported = false;
        foreach (var token in unmatched)
        {
            var isOption = token.StartsWith('-');
            var names = isOption
                ? AllOptions(parse.CommandResult).SelectMany(o => o.Aliases.Prepend(o.Name))
                : command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name);
            var suggestion = TypoSuggestion.Closest(token.TrimStart('-'), names.Select(n => n.TrimStart('-')).Distinct());
            var what = isOption ? "unknown option" : command.Subcommands.Count > 0 ? "unknown command" : "unexpected argument";
            var prefix = isOption ? "--" : "";
            stderr.WriteLine(suggestion is null ? $"error: `{token}`: {what}" : $"error: `{token}`: {what}; did you mean `{prefix}{suggestion}`?");
            reported = true;
            break;
        }
        foreach (var error in parse.Errors)
        {
            // The first unknown word explains the rest ("devcies list": "list" is unknown only because "devcies" is).
            if (reported && unmatched.Any(t => error.Message.Contains($"'{t}'", StringComparison.Ordinal))) continue;
            stderr.WriteLine($"error: {error.Message}");
        }
        var path = string.Join(' ', CommandPath(parse.CommandResult));
        stderr.WriteLine($"Run `{path} --help` for usage.");
        return ExitCodes.Usage;
    }

    private static IEnumerable<Option> AllOptions(CommandResult result)
    {
        for (SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                foreach (var o in c.Command.Options.Where(o => !o.Hidden && (ReferenceEquals(c, result) || o.Recursive))) yield return o;
            }
        }
    }

    private static IEnumerable<string> CommandPath(CommandResult result)
    {
        var names = new Stack<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is CommandResult c) names.Push(c.Parent is null ? "IotWs.Gateway" : c.Command.Name);
        }
        return names;
    }

    /// <summary>Every command's --help ends with the exit codes.</summary>
    private static void AddExitCodesToHelp(RootCommand root)
    {
        var help = root.Options.OfType<HelpOption>().First();
        if (help.Action is HelpAction standard) help.Action = new HelpWithExitCodes(standard);
    }

    /// <summary>The standard help, then the exit codes.</summary>
    private sealed class HelpWithExitCodes(HelpAction standard) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var code = standard.Invoke(parseResult);
            parseResult.InvocationConfiguration.Output.WriteLine(ExitCodes.Help);
            return code;
        }
    }
}

/// <summary>A verb's refusal of its input: printed as one "error:" line, exit code 1.</summary>
internal sealed class VerbException(string message) : Exception(message);
