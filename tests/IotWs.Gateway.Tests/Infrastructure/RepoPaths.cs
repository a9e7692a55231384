namespace IotWs.Gateway.Tests.Infrastructure;

/// <summary>Finds the repository root and the built gateway, for tests that run it as a child process.</summary>
public static class RepoPaths
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IotWs.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("IotWs.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The gateway's own build output (same configuration as the tests).</summary>
    public static string GatewayDll
    {
        get
        {
            var config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var path = Path.Combine(Root, "gateway", "IotWs.Gateway", "bin", config, "net10.0", "IotWs.Gateway.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("Build the gateway first", path);
        }
    }
}
