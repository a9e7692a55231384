using Microsoft.Playwright;
using Xunit.Abstractions;

namespace IotWs.Dashboard.Tests;

/// <summary>
/// A fresh browser context and page for one test. Every console error and uncaught page
/// error is collected: a test ends with <see cref="AssertNoErrors"/>, and a test that fails
/// earlier still shows them in its output.
/// </summary>
public sealed class PageSession : IAsyncDisposable
{
    private readonly IBrowserContext _context;
    private readonly List<string> _errors = [];
    private readonly List<string> _allowed = [];

    public IPage Page { get; }

    private readonly ITestOutputHelper? _output;

    private PageSession(IBrowserContext context, IPage page, ITestOutputHelper? output)
    {
        _context = context;
        _output = output;
        Page = page;
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (_errors) { _errors.Add($"console: {message.Text} ({message.Location})"); }
            }
        };
        page.PageError += (_, error) =>
        {
            lock (_errors) { _errors.Add($"page error: {error}"); }
        };
    }

    public static async Task<PageSession> OpenAsync(Browser browser, string baseUrl, ITestOutputHelper? output = null, int width = 1280, int height = 900,
        string locale = "en-GB", ColorScheme colorScheme = ColorScheme.Light)
    {
        var context = await browser.Instance.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseUrl,
            ViewportSize = new ViewportSize { Width = width, Height = height },
            Locale = locale,
            TimezoneId = "UTC",
            ColorScheme = colorScheme,
        });
        context.SetDefaultTimeout(10_000);
        return new PageSession(context, await context.NewPageAsync(), output);
    }

    /// <summary>Lets a console error containing this text pass, for a test that provokes it (e.g. a 401).</summary>
    public void Allow(string text) => _allowed.Add(text);

    public async Task LoginAsync(string key)
    {
        await Page.GotoAsync("/");
        await Page.GetByTestId("login-key").FillAsync(key);
        await Page.GetByTestId("login-submit").ClickAsync();
        await Assertions.Expect(Page.GetByTestId("conn-indicator")).ToHaveAttributeAsync("data-state", "connected");
    }

    /// <summary>Saves a full-page screenshot under TestResults/screenshots beside the test binary (or IOTWS_SCREENSHOTS).</summary>
    public async Task<string> ScreenshotAsync(string name)
    {
        var dir = Environment.GetEnvironmentVariable("IOTWS_SCREENSHOTS") is { Length: > 0 } chosen
            ? chosen
            : Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name + ".png");
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    private string[] UnexpectedErrors()
    {
        lock (_errors)
        {
            return _errors.Where(e => !_allowed.Exists(a => e.Contains(a, StringComparison.Ordinal))).ToArray();
        }
    }

    /// <summary>Fails the test if the page logged a console error or threw.</summary>
    public void AssertNoErrors()
    {
        var errors = UnexpectedErrors();
        Assert.True(errors.Length == 0, "The page logged errors:\n" + string.Join("\n", errors));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var error in UnexpectedErrors())
        {
            _output?.WriteLine(error);
        }
        await _context.CloseAsync();
    }
}
