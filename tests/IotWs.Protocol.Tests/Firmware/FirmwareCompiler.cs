using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace IotWs.Protocol.Tests.Firmware;

/// <summary>What csc said about one compilation.</summary>
public sealed record CompileResult(int ExitCode, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings, IReadOnlyList<string> MissingReferences, int Sources, int References)
{
    public bool Succeeded => ExitCode == 0 && Errors.Count == 0 && MissingReferences.Count == 0;

    public override string ToString() =>
        $"{Sources} source files, {References} references, {Errors.Count} errors, {Warnings.Count} warnings"
        + string.Concat(MissingReferences.Select(m => "\nmissing reference: " + m))
        + string.Concat(Errors.Select(e => "\n" + e))
        + string.Concat(Warnings.Select(w => "\n" + w));
}

/// <summary>
/// Compiles a .nfproj the way its build does, but with the .NET SDK's own csc: exactly its Compile
/// items, /nostdlib /noconfig, against its HintPaths resolved in a NuGet-layout packages folder.
/// </summary>
public static partial class FirmwareCompiler
{
    [GeneratedRegex(@": (error|warning) [A-Z]+\d+:", RegexOptions.CultureInvariant)]
    private static partial Regex Diagnostic();

    public static CompileResult Compile(NanoFrameworkProject project, string repoRoot, string packagesDir, IEnumerable<string>? extraSources = null)
    {
        var references = project.ReferencesIn(repoRoot, packagesDir);
        var missing = references.Where(r => !File.Exists(r.FullPath))
            .Select(r => $"{r.Name}: {r.HintPath} is not in {packagesDir}").ToList();
        var sources = project.CompileItems.Concat(extraSources ?? []).ToList();

        var work = System.IO.Directory.CreateTempSubdirectory("iotws-nfcsc-").FullName;
        try
        {
            var rsp = Path.Combine(work, "csc.rsp");
            var args = new List<string>
            {
                "/noconfig", "/nostdlib+", "/nologo", "/target:exe", "/langversion:" + project.LangVersion,
                "/optimize+", "/nowarn:1701,1702", "/out:" + Quote(Path.Combine(work, "IotWs.Firmware.exe")),
            };
            var defines = project.DefineConstants.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (defines.Length > 0) args.Add("/define:" + string.Join(';', defines));
            args.AddRange(references.Where(r => File.Exists(r.FullPath)).Select(r => "/reference:" + Quote(r.FullPath)));
            args.AddRange(sources.Select(Quote));
            File.WriteAllLines(rsp, args);

            var (exit, output) = Run(DotnetHost(), [CscPath(repoRoot), "@" + rsp], repoRoot);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(l => l.Replace(repoRoot + Path.DirectorySeparatorChar, "", StringComparison.Ordinal)).ToList();
            var errors = lines.Where(l => Diagnostic().Match(l) is { Success: true } m && m.Groups[1].Value == "error").ToList();
            var warnings = lines.Where(l => Diagnostic().Match(l) is { Success: true } m && m.Groups[1].Value == "warning").ToList();
            if (exit != 0 && errors.Count == 0) errors.Add($"csc exited with {exit}: {output.Trim()}");
            return new CompileResult(exit, errors, warnings, missing, sources.Count, references.Count);
        }
        finally
        {
            try { System.IO.Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>The dotnet executable that runs these tests.</summary>
    public static string DotnetHost()
    {
        var fromCli = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromCli) && File.Exists(fromCli)) return fromCli;
        var process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet") return process;
        // shared/Microsoft.NETCore.App/<version>/ → the dotnet root three levels up.
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        return Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
    }

    /// <summary>csc.dll of the SDK that global.json selects in the repository: &lt;sdk&gt;/Roslyn/bincore/csc.dll.</summary>
    public static string CscPath(string repoRoot)
    {
        var dotnet = DotnetHost();
        var (exit, version) = Run(dotnet, ["--version"], repoRoot);
        if (exit != 0) throw new InvalidOperationException("dotnet --version failed: " + version);
        var csc = Path.Combine(Path.GetDirectoryName(dotnet)!, "sdk", version.Trim(), "Roslyn", "bincore", "csc.dll");
        if (!File.Exists(csc)) throw new FileNotFoundException("The SDK's csc.dll is not where the SDK keeps it", csc);
        return csc;
    }

    private static string Quote(string path) => "\"" + path + "\"";

    private static (int Exit, string Output) Run(string file, IEnumerable<string> arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}
