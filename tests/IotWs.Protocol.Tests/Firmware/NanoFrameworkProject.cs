using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace IotWs.Protocol.Tests.Firmware;

/// <summary>One &lt;Reference&gt; of the .nfproj: the assembly name and where its HintPath points.</summary>
public sealed record NanoReference(string Name, string HintPath, string FullPath)
{
    /// <summary>The NuGet folder the HintPath names, e.g. nanoFramework.System.Net.1.11.54.</summary>
    public string PackageFolder { get; init; } = "";
}

/// <summary>
/// Reads what MSBuild would take from a classic .nfproj: the Compile items (Include globs with
/// their Exclude), the References' HintPaths, LangVersion and DefineConstants of Release, and
/// packages.config next to it.
/// </summary>
public sealed class NanoFrameworkProject
{
    private static readonly XNamespace Ms = "http://schemas.microsoft.com/developer/msbuild/2003";

    private NanoFrameworkProject(string path, XDocument doc)
    {
        Path = path;
        Directory = System.IO.Path.GetDirectoryName(path)!;
        var root = doc.Root!;
        CompileItems = [.. root.Descendants(Ms + "Compile")
            .SelectMany(c => Expand((string)c.Attribute("Include")!, (string?)c.Attribute("Exclude")))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)];
        References = [.. root.Descendants(Ms + "Reference")
            .Where(r => r.Element(Ms + "HintPath") is not null)
            .Select(r =>
            {
                var hint = r.Element(Ms + "HintPath")!.Value.Trim();
                var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(Directory, Normalize(hint)));
                return new NanoReference((string)r.Attribute("Include")!, hint, full);
            })];
        var release = root.Elements(Ms + "PropertyGroup").FirstOrDefault(g => ((string?)g.Attribute("Condition") ?? "").Contains("Release", StringComparison.Ordinal));
        DefineConstants = release?.Element(Ms + "DefineConstants")?.Value ?? "";
        LangVersion = root.Descendants(Ms + "LangVersion").Select(e => e.Value).FirstOrDefault() ?? "latest";
        var config = System.IO.Path.Combine(Directory, "packages.config");
        Packages = File.Exists(config)
            ? XDocument.Load(config).Root!.Elements("package").ToDictionary(p => (string)p.Attribute("id")!, p => (string)p.Attribute("version")!, StringComparer.OrdinalIgnoreCase)
            : [];
    }

    public string Path { get; }
    public string Directory { get; }

    /// <summary>Every source file the project compiles, as full paths.</summary>
    public IReadOnlyList<string> CompileItems { get; }

    public IReadOnlyList<NanoReference> References { get; }
    public string DefineConstants { get; }
    public string LangVersion { get; }

    /// <summary>packages.config: package id → version.</summary>
    public IReadOnlyDictionary<string, string> Packages { get; }

    public static NanoFrameworkProject Load(string nfprojPath) => new(nfprojPath, XDocument.Load(nfprojPath));

    /// <summary>
    /// The references with their HintPaths moved from the repository's packages folder (where NuGet
    /// restores) to <paramref name="packagesDir"/>, which has the same NuGet layout.
    /// </summary>
    public IReadOnlyList<NanoReference> ReferencesIn(string repoRoot, string packagesDir)
    {
        var restored = System.IO.Path.Combine(repoRoot, "packages");
        return [.. References.Select(r =>
        {
            var relative = System.IO.Path.GetRelativePath(restored, r.FullPath);
            if (relative.StartsWith("..", StringComparison.Ordinal) || System.IO.Path.IsPathRooted(relative))
                throw new InvalidOperationException($"HintPath of {r.Name} ({r.HintPath}) does not point into the packages folder");
            var folder = relative.Split(System.IO.Path.DirectorySeparatorChar)[0];
            return r with { FullPath = System.IO.Path.Combine(packagesDir, relative), PackageFolder = folder };
        })];
    }

    private static string Normalize(string msbuildPath) => msbuildPath.Replace('\\', System.IO.Path.DirectorySeparatorChar);

    /// <summary>MSBuild's item globbing as this project uses it: '*' within a folder, '**' across folders.</summary>
    private IEnumerable<string> Expand(string include, string? exclude)
    {
        var excluded = (exclude ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(e => Glob(e)).ToList();
        foreach (var pattern in include.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!pattern.Contains('*', StringComparison.Ordinal) && !pattern.Contains('?', StringComparison.Ordinal))
            {
                yield return System.IO.Path.GetFullPath(System.IO.Path.Combine(Directory, Normalize(pattern)));
                continue;
            }
            var (baseDir, regex) = Glob(pattern);
            if (!System.IO.Directory.Exists(baseDir)) continue;
            foreach (var file in System.IO.Directory.EnumerateFiles(baseDir, "*", SearchOption.AllDirectories))
            {
                if (!regex.IsMatch(Relative(baseDir, file))) continue;
                if (excluded.Any(e => file.StartsWith(e.BaseDir, StringComparison.Ordinal) && e.Regex.IsMatch(Relative(e.BaseDir, file)))) continue;
                yield return file;
            }
        }
    }

    private static string Relative(string baseDir, string file) => System.IO.Path.GetRelativePath(baseDir, file).Replace('\\', '/');

    /// <summary>Splits a glob into the fixed folder it starts from and a regex over paths relative to it.</summary>
    private (string BaseDir, Regex Regex) Glob(string pattern)
    {
        var parts = pattern.Replace('\\', '/').Split('/');
        var fixedCount = parts.TakeWhile(p => !p.Contains('*', StringComparison.Ordinal) && !p.Contains('?', StringComparison.Ordinal)).Count();
        if (fixedCount == parts.Length) fixedCount--;
        var baseDir = System.IO.Path.GetFullPath(System.IO.Path.Combine([Directory, .. parts.Take(fixedCount)]));
        var rest = string.Join('/', parts.Skip(fixedCount));
        var regex = "^" + Regex.Escape(rest)
            .Replace(@"\*\*/", "(.*/)?", StringComparison.Ordinal)
            .Replace(@"\*\*", ".*", StringComparison.Ordinal)
            .Replace(@"\*", "[^/]*", StringComparison.Ordinal)
            .Replace(@"\?", "[^/]", StringComparison.Ordinal) + "$";
        return (baseDir, new Regex(regex, RegexOptions.CultureInvariant));
    }
}
