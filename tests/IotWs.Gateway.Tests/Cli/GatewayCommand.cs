using System.Diagnostics;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cli;

/// <summary>The built gateway run once as a child process to its exit: its exit code, stdout and stderr.</summary>
internal static class GatewayCommand
{
    public sealed record Result(int ExitCode, string Out, string Err)
    {
        public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Out}\nstderr:\n{Err}";
    }

    public static Task<Result> RunAsync(params string[] args) => RunInAsync(Path.GetTempPath(), args);

    /// <summary>Runs <c>dotnet IotWs.Gateway.dll args</c> in a working directory; fails the test if it does not exit within a minute.</summary>
    public static Task<Result> RunInAsync(string workingDirectory, params string[] args) =>
        RunProcessAsync(workingDirectory, DotnetHost(), [RepoPaths.GatewayDll, .. args]);

    public static async Task<Result> RunProcessAsync(string workingDirectory, string fileName, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(fileName, args)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment.Remove("Gateway__DataDirectory");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(true);
            Assert.Fail($"`{string.Join(' ', args)}` did not exit within 90 s (a mistyped verb that starts the server never does). Output so far: {await stdout}{await stderr}");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public static string DotnetHost() =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
}
