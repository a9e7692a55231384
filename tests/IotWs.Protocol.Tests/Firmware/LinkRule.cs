using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace IotWs.Protocol.Tests.Firmware;

/// <summary>
/// nanoCLR's link rule, checked on the assemblies the app deploys: every AssemblyReference of every
/// deployed DLL must name a deployed assembly with the same major.minor (nanoCLR ignores build and
/// revision, and refuses anything else), and not above the deployed version (NuGet's rule).
/// packages.config and the .nfproj's HintPaths must name the same package versions.
/// </summary>
public static class LinkRule
{
    public static IReadOnlyList<string> Check(NanoFrameworkProject project, string repoRoot, string packagesDir)
    {
        var problems = new List<string>();
        var references = project.ReferencesIn(repoRoot, packagesDir);
        var deployed = new Dictionary<string, Version>(StringComparer.Ordinal);
        var readable = new List<(NanoReference Reference, List<(string Name, Version Version)> Needs)>();

        foreach (var r in references)
        {
            var package = PackageOf(r.PackageFolder, project.Packages);
            if (package is null)
            {
                problems.Add($"{r.Name}: HintPath names {r.PackageFolder}, which is not a package version in packages.config");
            }
            if (!File.Exists(r.FullPath))
            {
                problems.Add($"{r.Name}: {r.PackageFolder} is not in the reference kit, so its references cannot be read");
                // What NuGet would deploy: the version in the package folder's name.
                if (VersionOf(r.PackageFolder, project.Packages) is { } fromFolder) deployed[r.Name] = fromFolder;
                continue;
            }
            using var stream = File.OpenRead(r.FullPath);
            using var pe = new PEReader(stream);
            var md = pe.GetMetadataReader();
            var self = md.GetAssemblyDefinition();
            var name = md.GetString(self.Name);
            if (name != r.Name) problems.Add($"{r.Name}: {r.HintPath} holds assembly {name}");
            deployed[r.Name] = self.Version;
            readable.Add((r, [.. md.AssemblyReferences.Select(h => md.GetAssemblyReference(h)).Select(a => (md.GetString(a.Name), a.Version))]));
        }

        foreach (var id in project.Packages.Keys)
        {
            if (!references.Any(r => r.PackageFolder.StartsWith(id + ".", StringComparison.OrdinalIgnoreCase)))
                problems.Add($"packages.config lists {id} {project.Packages[id]}, but no Reference of the .nfproj uses it");
        }

        foreach (var (reference, needs) in readable)
        {
            foreach (var (name, version) in needs)
            {
                var who = $"{reference.Name} {deployed[reference.Name]} ({reference.PackageFolder})";
                if (!deployed.TryGetValue(name, out var have))
                    problems.Add($"{who} references {name} {version}, which the app does not deploy");
                else if (have.Major != version.Major || have.Minor != version.Minor)
                    problems.Add($"{who} references {name} {version}, the app deploys {have}: nanoCLR links only the same major.minor, so the board stops at start");
                else if (version > have)
                    problems.Add($"{who} references {name} {version}, above the deployed {have}");
            }
        }
        return problems;
    }

    /// <summary>The version part of a package folder name (id.version) whose id is in packages.config.</summary>
    private static Version? VersionOf(string folder, IReadOnlyDictionary<string, string> packages)
    {
        foreach (var id in packages.Keys.OrderByDescending(k => k.Length))
        {
            if (folder.StartsWith(id + ".", StringComparison.OrdinalIgnoreCase) && Version.TryParse(folder[(id.Length + 1)..], out var v))
                return new Version(v.Major, v.Minor, Math.Max(v.Build, 0), Math.Max(v.Revision, 0));
        }
        return null;
    }

    /// <summary>The packages.config entry a package folder (id.version) stands for, when the version matches.</summary>
    private static (string Id, string Version)? PackageOf(string folder, IReadOnlyDictionary<string, string> packages)
    {
        foreach (var (id, version) in packages)
        {
            if (string.Equals(folder, id + "." + version, StringComparison.OrdinalIgnoreCase)) return (id, version);
        }
        return null;
    }
}
