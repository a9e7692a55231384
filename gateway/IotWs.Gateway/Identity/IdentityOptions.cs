using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Identity;

/// <summary>Settings of section "Gateway:Identity": how fast a change made by the CLI reaches the gateway, and login sessions.</summary>
public sealed class IdentityOptions
{
    public const string Section = "Gateway:Identity";

    /// <summary>How often the identity change counter is read; a revocation by another process closes live sessions within this.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a browser session made from a login link lasts (it ends earlier when revoked, or when its key is).</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(12);
}

internal sealed class IdentityOptionsValidator : IValidateOptions<IdentityOptions>
{
    public ValidateOptionsResult Validate(string? name, IdentityOptions o)
    {
        var errors = new List<string>();
        if (o.PollInterval < TimeSpan.FromMilliseconds(50) || o.PollInterval > TimeSpan.FromMinutes(1))
            errors.Add($"{IdentityOptions.Section}:PollInterval must be between 00:00:00.05 and 00:01:00 (got {o.PollInterval}).");
        if (o.SessionLifetime < TimeSpan.FromMinutes(1) || o.SessionLifetime > TimeSpan.FromDays(90))
            errors.Add($"{IdentityOptions.Section}:SessionLifetime must be between 00:01:00 and 90.00:00:00 (got {o.SessionLifetime}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
