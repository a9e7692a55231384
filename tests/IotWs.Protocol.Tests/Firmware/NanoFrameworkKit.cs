namespace IotWs.Protocol.Tests.Firmware;

/// <summary>Where the repository and the team's nanoFramework reference assemblies are.</summary>
public static class NanoFrameworkKit
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The repository root: the nearest folder up from the test binaries that holds IotWs.sln.</summary>
    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IotWs.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("IotWs.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>../shared/nanoframework next to the repository (the team kit; absent in a user's own clone).</summary>
    public static string Directory => Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared", "nanoframework"));

    /// <summary>The kit's NuGet-layout packages folder, which stands in for the repository's restored packages/.</summary>
    public static string Packages => Path.Combine(Directory, "packages");

    public static bool IsPresent => System.IO.Directory.Exists(Packages);

    public static string FirmwareProjectPath => Path.Combine(RepoRoot(), "firmware", "IotWs.Firmware", "IotWs.Firmware.nfproj");

    /// <summary>Fails with a clear message when the kit is missing; only reached when it exists or CI=true.</summary>
    public static void Require()
    {
        if (!IsPresent)
            throw new InvalidOperationException($"{Packages} is missing and CI=true, so this test fails instead of skipping: CI must check the firmware out next to the team kit (../shared/nanoframework).");
    }
}

/// <summary>
/// A fact that needs the nanoFramework reference assemblies in ../shared/nanoframework. Skipped with
/// the reason where they are absent (a user's own clone); under CI=true it runs and fails instead.
/// </summary>
public sealed class NanoFrameworkKitFactAttribute : FactAttribute
{
    public NanoFrameworkKitFactAttribute()
    {
        if (!NanoFrameworkKit.IsPresent && !NanoFrameworkKit.IsCi)
            Skip = $"{NanoFrameworkKit.Packages} is absent (it is the team kit next to the repository); without it the firmware cannot be compiled here. With CI=true this test fails instead.";
    }
}

/// <summary>The theory form of <see cref="NanoFrameworkKitFactAttribute"/>.</summary>
public sealed class NanoFrameworkKitTheoryAttribute : TheoryAttribute
{
    public NanoFrameworkKitTheoryAttribute()
    {
        if (!NanoFrameworkKit.IsPresent && !NanoFrameworkKit.IsCi)
            Skip = $"{NanoFrameworkKit.Packages} is absent (it is the team kit next to the repository). With CI=true this test fails instead.";
    }
}
