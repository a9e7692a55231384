namespace IotWs.Protocol.Tests;

public class SubsetTests
{
    /// <summary>The repository root: the nearest folder up from the test binaries that holds IotWs.sln.</summary>
    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IotWs.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("IotWs.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Every .cs file that nanoFramework compiles: shared protocol, firmware core, nanoFramework app.</summary>
    private static List<string> DeviceSources(string root)
    {
        string[] folders = [Path.Combine(root, "shared"), Path.Combine(root, "firmware", "IotWs.Firmware.Core"), Path.Combine(root, "firmware", "IotWs.Firmware")];
        return [.. folders
            .Where(Directory.Exists)
            .SelectMany(f => Directory.EnumerateFiles(f, "*.cs", SearchOption.AllDirectories))
            .Where(p => !p.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            .Order(StringComparer.Ordinal)];
    }

    [Fact]
    public void Firmware_and_protocol_sources_stay_inside_the_nanoframework_subset()
    {
        var root = RepoRoot();
        var files = DeviceSources(root);
        var violations = files
            .SelectMany(f => SubsetChecker.Check(File.ReadAllText(f), Path.GetRelativePath(root, f)))
            .ToList();

        Assert.True(violations.Count == 0, "outside the nanoFramework subset:\n" + string.Join("\n", violations));
    }

    /// <summary>
    /// Uses of syntax newer than C# 7.3. Most feature checks happen in the binder, so this compiles
    /// (without references: the many missing-type errors are ignored) and keeps only those errors.
    /// </summary>
    private static List<string> NewerThanCSharp73(IEnumerable<(string Source, string Path)> files)
    {
        var options = new Microsoft.CodeAnalysis.CSharp.CSharpParseOptions(Microsoft.CodeAnalysis.CSharp.LanguageVersion.CSharp7_3);
        var trees = files.Select(f => Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(f.Source, options, f.Path));
        var compilation = Microsoft.CodeAnalysis.CSharp.CSharpCompilation.Create("check", trees);
        return [.. compilation.GetDiagnostics()
            .Where(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error)
            .Where(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture).Contains("is not available in C# 7.3", StringComparison.Ordinal)
                || d.Location.SourceTree?.GetDiagnostics().Contains(d) == true)
            .Select(d => d.ToString())];
    }

    private static List<string> NewerThanCSharp73(string source, string path) => NewerThanCSharp73([(source, path)]);

    [Fact]
    public void Device_sources_are_plain_csharp_7_3_like_the_core_project()
    {
        // The nanoFramework adapters are never compiled here; at least their syntax is held to the core's language version.
        var root = RepoRoot();
        var problems = NewerThanCSharp73(DeviceSources(root).Select(f => (File.ReadAllText(f), Path.GetRelativePath(root, f))));

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Theory]
    [InlineData("class C { int M(int x) => x switch { 1 => 2, _ => 0 }; }")]
    [InlineData("class C { void M(object o) { if (o is not null) { } } }")]
    [InlineData("class C { void M() { object o = new(); } }")]
    public void The_language_version_check_catches_newer_syntax(string source)
    {
        Assert.NotEmpty(NewerThanCSharp73(source, "planted.cs"));
    }

    [Fact]
    public void The_subset_check_really_looks_at_all_three_folders()
    {
        var root = RepoRoot();
        var files = DeviceSources(root).Select(f => Path.GetRelativePath(root, f).Replace('\\', '/')).ToList();

        Assert.Contains(files, f => f.StartsWith("shared/IotWs.Protocol/", StringComparison.Ordinal));
        Assert.Contains(files, f => f.StartsWith("firmware/IotWs.Firmware.Core/", StringComparison.Ordinal));
        Assert.Contains(files, f => f.StartsWith("firmware/IotWs.Firmware/", StringComparison.Ordinal));
        Assert.True(files.Count >= 20, $"only {files.Count} files found");
    }

    [Theory]
    [InlineData("class C { List<int> x; }", "generic type")]
    [InlineData("class C { Dictionary<string, int> d = new Dictionary<string, int>(); }", "generic type")]
    [InlineData("class C { IEnumerable<string> E() { return null; } }", "generic type")]
    [InlineData("class C { Action<int, int> a; }", "generic delegate")]
    [InlineData("class C { Func<int> f; }", "generic delegate")]
    [InlineData("class C { Action<string> a; }", "generic delegate")]
    [InlineData("class C { System.Func<System.Collections.Hashtable, bool> send; }", "generic delegate")]
    [InlineData("class C { void M(Func<int, bool> accept) { } }", "generic delegate")]
    [InlineData("class C { event EventHandler<MessageEventArgs> Received; }", "generic delegate")]
    [InlineData("class C<T> { }", "generic declaration")]
    [InlineData("class C { void M<T>(T t) { } }", "generic declaration")]
    [InlineData("interface I<T> { }", "generic declaration")]
    [InlineData("class C { async Task F() { await G(); } }", "async")]
    [InlineData("class C { async Task F() { await G(); } }", "await")]
    [InlineData("class C { async Task F() { await G(); } }", "Task")]
    [InlineData("class C { void M() { var t = Task.Run(() => 1); } }", "Task")]
    [InlineData("class C { void M() { Action a = async () => { }; } }", "async")]
    [InlineData("using System.Linq; class C { }", "LINQ")]
    [InlineData("class C { void M(int[] a) { var q = from x in a where x > 1 select x; } }", "LINQ")]
    [InlineData("class C { int? y; }", "nullable value type")]
    [InlineData("class C { void M(double? d) { } }", "nullable value type")]
    [InlineData("class C { (int a, int b) t; }", "tuple")]
    [InlineData("class C { void M() { var p = (1, 2); } }", "tuple")]
    [InlineData("class C { void M() { var (a, b) = P(); } }", "tuple")]
    [InlineData("record R;", "record")]
    [InlineData("record struct P(int X);", "record")]
    [InlineData("class C { public int X { get; init; } }", "init")]
    [InlineData("class C { dynamic d; }", "dynamic")]
    [InlineData("class C { void M(Span<byte> s) { } }", "Span")]
    [InlineData("class C { void M() { ReadOnlySpan<char> s = \"x\"; } }", "Span")]
    public void Planted_violations_are_reported(string source, string rule)
    {
        var violations = SubsetChecker.Check(source, "planted.cs");

        Assert.Contains(violations, v => v.Rule == rule && v.File == "planted.cs" && v.Line == 1);
    }

    [Fact]
    public void Violations_name_the_file_and_line()
    {
        var violations = SubsetChecker.Check("class C\n{\n    int ok;\n    int? bad;\n}\n", "firmware/x.cs");

        var v = Assert.Single(violations);
        Assert.Equal("firmware/x.cs:4: nullable value type: int?", v.ToString());
    }

    [Fact]
    public void What_nanoframework_has_is_not_reported()
    {
        const string allowed = """
            using System;
            using System.Collections;
            using System.Threading;
            namespace N
            {
                public delegate void Handler(object sender, EventArgs e);
                public interface IPort { bool TryRead(out double t); }
                public class C : IPort
                {
                    private readonly Hashtable _h = new Hashtable();
                    private readonly ArrayList _a = new ArrayList();
                    public Action OnChanged;
                    public Handler OnText;
                    public event Handler Changed;
                    public int Count { get; private set; }
                    public bool TryRead(out double t) { t = 1.5; return true; }
                    public string M(int x)
                    {
                        lock (_h) { _a.Add(x); }
                        foreach (object o in _a) { if (o is int) Count++; }
                        Action log = () => Count++;
                        switch (x) { case 1: return $"one {x}"; default: return string.Empty; }
                    }
                    public void Run() { new Thread(() => { Thread.Sleep(10); }).Start(); }
                }
            }
            """;

        Assert.Empty(SubsetChecker.Check(allowed, "ok.cs"));
    }
}
