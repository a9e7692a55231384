namespace IotWs.Dashboard.Tests;

/// <summary>
/// A fact that needs Debian's Chromium. Without it the test is skipped with the reason on a
/// developer's machine, and fails under CI=true, where a missing browser is a broken setup.
/// </summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (!File.Exists(Browser.ExecutablePath) && !Browser.IsCi)
        {
            Skip = $"{Browser.ExecutablePath} is missing; install it with 'apt-get install -y chromium'.";
        }
    }
}
