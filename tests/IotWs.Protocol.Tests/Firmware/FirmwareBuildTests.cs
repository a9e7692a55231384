namespace IotWs.Protocol.Tests.Firmware;

/// <summary>
/// The ESP32 app, compiled and linked here against the team's nanoFramework reference assemblies
/// (../shared/nanoframework): what Visual Studio would build, and what nanoCLR would load.
/// </summary>
public class FirmwareBuildTests
{
    [NanoFrameworkKitFact]
    public void The_firmware_compiles_with_the_sdk_csc_against_exactly_its_hint_paths()
    {
        NanoFrameworkKit.Require();
        var project = NanoFrameworkProject.Load(NanoFrameworkKit.FirmwareProjectPath);

        var result = FirmwareCompiler.Compile(project, NanoFrameworkKit.RepoRoot(), NanoFrameworkKit.Packages);

        Assert.True(result.Succeeded, "the firmware does not build: " + result);
        Assert.True(result.Warnings.Count == 0, "the firmware builds with warnings: " + result);
    }

    [NanoFrameworkKitFact]
    public void Every_deployed_assembly_references_the_deployed_major_minor_and_nothing_newer()
    {
        NanoFrameworkKit.Require();
        var project = NanoFrameworkProject.Load(NanoFrameworkKit.FirmwareProjectPath);

        var problems = LinkRule.Check(project, NanoFrameworkKit.RepoRoot(), NanoFrameworkKit.Packages);

        Assert.True(problems.Count == 0, "nanoCLR would not link the app:\n" + string.Join("\n", problems));
    }

    [NanoFrameworkKitFact]
    public void The_compile_check_fails_when_device_code_leaves_the_nanoframework_subset()
    {
        NanoFrameworkKit.Require();
        var project = NanoFrameworkProject.Load(NanoFrameworkKit.FirmwareProjectPath);
        var planted = Path.Combine(Directory.CreateTempSubdirectory("iotws-planted-").FullName, "Planted.cs");
        File.WriteAllText(planted, "namespace IotWs.Firmware.Core { public class Planted { public System.Collections.Generic.List<int> Items = new System.Collections.Generic.List<int>(); } }");
        try
        {
            var result = FirmwareCompiler.Compile(project, NanoFrameworkKit.RepoRoot(), NanoFrameworkKit.Packages, [planted]);

            Assert.False(result.Succeeded);
            Assert.Contains(result.Errors, e => e.Contains("Planted.cs", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(planted)!, recursive: true);
        }
    }

    [Fact]
    public void The_build_check_compiles_every_folder_the_nfproj_links()
    {
        var project = NanoFrameworkProject.Load(NanoFrameworkKit.FirmwareProjectPath);
        var root = NanoFrameworkKit.RepoRoot();
        var files = project.CompileItems.Select(f => Path.GetRelativePath(root, f).Replace('\\', '/')).ToList();

        Assert.Contains("firmware/IotWs.Firmware/Program.cs", files);
        Assert.Contains(files, f => f.StartsWith("firmware/IotWs.Firmware/Adapters/", StringComparison.Ordinal));
        Assert.Contains(files, f => f.StartsWith("firmware/IotWs.Firmware.Core/Ports/", StringComparison.Ordinal));
        Assert.Contains(files, f => f.StartsWith("shared/IotWs.Protocol/", StringComparison.Ordinal));
        Assert.DoesNotContain(files, f => f.Contains("/obj/", StringComparison.Ordinal) || f.Contains("/bin/", StringComparison.Ordinal));
        Assert.All(project.CompileItems, f => Assert.True(File.Exists(f), f));
    }
}

/// <summary>The link rule on planted package sets: a real System.Net from the kit next to a Runtime.Events of another version.</summary>
public class LinkRuleTests
{
    private static string PlantedApp(string runtimeEventsVersion, bool deployRuntimeEvents = true)
    {
        var root = Directory.CreateTempSubdirectory("iotws-link-").FullName;
        var app = Directory.CreateDirectory(Path.Combine(root, "firmware", "App")).FullName;
        var packages = Path.Combine(root, "packages");
        void Copy(string folder, string dll)
        {
            Directory.CreateDirectory(Path.Combine(packages, folder, "lib"));
            File.Copy(Path.Combine(NanoFrameworkKit.Packages, folder, "lib", dll), Path.Combine(packages, folder, "lib", dll));
        }
        string[] kit = ["nanoFramework.CoreLibrary.1.17.11|mscorlib", "nanoFramework.System.Net.1.11.54|System.Net", "nanoFramework.System.Threading.1.1.52|System.Threading",
            "nanoFramework.System.IO.Streams.1.1.96|System.IO.Streams", "nanoFramework.System.Text.1.3.42|nanoFramework.System.Text"];
        var refs = new List<(string Id, string Version, string Folder, string Assembly)>();
        foreach (var entry in kit)
        {
            var (folder, asm) = (entry.Split('|')[0], entry.Split('|')[1]);
            Copy(folder, asm + ".dll");
            var cut = folder.IndexOf(".1.", StringComparison.Ordinal);
            refs.Add((folder[..cut], folder[(cut + 1)..], folder, asm));
        }
        if (deployRuntimeEvents)
        {
            // An assembly of that name and version, compiled here: only its identity matters to the rule.
            var folder = "nanoFramework.Runtime.Events." + runtimeEventsVersion;
            Directory.CreateDirectory(Path.Combine(packages, folder, "lib"));
            var tree = Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText($"[assembly: System.Reflection.AssemblyVersion(\"{runtimeEventsVersion}.0\")]");
            var compilation = Microsoft.CodeAnalysis.CSharp.CSharpCompilation.Create("nanoFramework.Runtime.Events", [tree],
                [Microsoft.CodeAnalysis.MetadataReference.CreateFromFile(Path.Combine(packages, "nanoFramework.CoreLibrary.1.17.11", "lib", "mscorlib.dll"))],
                new Microsoft.CodeAnalysis.CSharp.CSharpCompilationOptions(Microsoft.CodeAnalysis.OutputKind.DynamicallyLinkedLibrary));
            using (var dll = File.Create(Path.Combine(packages, folder, "lib", "nanoFramework.Runtime.Events.dll")))
                Assert.True(compilation.Emit(dll).Success);
            refs.Add(("nanoFramework.Runtime.Events", runtimeEventsVersion, folder, "nanoFramework.Runtime.Events"));
        }
        File.WriteAllText(Path.Combine(app, "packages.config"), "<packages>" + string.Concat(refs.Select(r => $"<package id=\"{r.Id}\" version=\"{r.Version}\" />")) + "</packages>");
        File.WriteAllText(Path.Combine(app, "App.nfproj"), """<Project xmlns="http://schemas.microsoft.com/developer/msbuild/2003"><ItemGroup>"""
            + string.Concat(refs.Select(r => $"<Reference Include=\"{r.Assembly}\"><HintPath>..\\..\\packages\\{r.Folder}\\lib\\{r.Assembly}.dll</HintPath></Reference>"))
            + "</ItemGroup></Project>");
        return root;
    }

    private static IReadOnlyList<string> Check(string root) =>
        LinkRule.Check(NanoFrameworkProject.Load(Path.Combine(root, "firmware", "App", "App.nfproj")), root, Path.Combine(root, "packages"));

    [NanoFrameworkKitTheory]
    [InlineData("1.10.40", "the app deploys 1.10.40.0: nanoCLR links only the same major.minor")]
    [InlineData("1.11.32", "above the deployed 1.11.32.0")]
    public void A_reference_to_another_major_minor_or_a_newer_build_is_reported(string deployed, string expected)
    {
        NanoFrameworkKit.Require();
        var root = PlantedApp(deployed);
        try
        {
            var problem = Assert.Single(Check(root));
            Assert.StartsWith("System.Net 1.11.54.0 (nanoFramework.System.Net.1.11.54) references nanoFramework.Runtime.Events 1.11.37.0", problem);
            Assert.Contains(expected, problem);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [NanoFrameworkKitFact]
    public void A_reference_to_an_assembly_the_app_does_not_deploy_is_reported_and_a_consistent_set_passes()
    {
        NanoFrameworkKit.Require();
        var missing = PlantedApp("1.11.37", deployRuntimeEvents: false);
        var consistent = PlantedApp("1.11.37");
        try
        {
            Assert.Contains("references nanoFramework.Runtime.Events 1.11.37.0, which the app does not deploy", Assert.Single(Check(missing)));
            Assert.Empty(Check(consistent));
        }
        finally
        {
            Directory.Delete(missing, recursive: true);
            Directory.Delete(consistent, recursive: true);
        }
    }
}
