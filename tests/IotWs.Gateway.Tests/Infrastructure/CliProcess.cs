using System.Diagnostics;

namespace IotWs.Gateway.Tests.Infrastructure;

/// <summary>The gateway's CLI run as its own process (as an operator runs it next to a live gateway).</summary>
public static class CliProcess
{
    public static async Task<(int Code, string Out, string Err)> RunAsync(string dataDir, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "IotWs.Gateway.dll");
        var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        var info = new ProcessStartInfo(host, [dll, .. args, "--data-dir", dataDir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
