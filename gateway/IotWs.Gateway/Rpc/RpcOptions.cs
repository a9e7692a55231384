using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Rpc;

/// <summary>Settings of section "Gateway:Rpc": timeouts and lifetimes of gateway-to-device calls and their audit log.</summary>
public sealed class RpcOptions
{
    public const string Section = "Gateway:Rpc";

    /// <summary>How long a device has to answer when the caller gives no timeoutMs (the seed's requestTimeout).</summary>
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(10);
    public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromMinutes(5);
    public TimeSpan MinTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a persistent call waits for its device, and how long an idempotencyKey is remembered, when the caller gives no ttlSeconds.</summary>
    public TimeSpan DefaultTtl { get; set; } = TimeSpan.FromHours(1);
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long after a reboot acknowledgement the device has to come back with a higher bootId.</summary>
    public TimeSpan RebootConfirmTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Finished calls older than this are deleted from the audit log.</summary>
    public TimeSpan AuditRetention { get; set; } = TimeSpan.FromDays(90);
    public TimeSpan RetentionSweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often queued calls past their TTL and reboots past their confirmation window are settled.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Persistent calls waiting for one device; beyond this a new one is refused (keeps a forgotten script from filling the SD card).</summary>
    [Range(1, 100_000)] public int MaxQueuedPerDevice { get; set; } = 100;
}

/// <summary>Checks the intervals of RpcOptions at start, so a bad value stops the gateway with a clear message.</summary>
internal sealed class RpcOptionsValidator : IValidateOptions<RpcOptions>
{
    public ValidateOptionsResult Validate(string? name, RpcOptions o)
    {
        var errors = new List<string>();
        void Positive(TimeSpan value, string key)
        {
            if (value <= TimeSpan.Zero) errors.Add($"{RpcOptions.Section}:{key} must be positive (got {value}).");
        }
        Positive(o.DefaultTimeout, nameof(o.DefaultTimeout));
        Positive(o.MinTimeout, nameof(o.MinTimeout));
        Positive(o.MaxTimeout, nameof(o.MaxTimeout));
        Positive(o.DefaultTtl, nameof(o.DefaultTtl));
        Positive(o.MaxTtl, nameof(o.MaxTtl));
        Positive(o.RebootConfirmTimeout, nameof(o.RebootConfirmTimeout));
        Positive(o.AuditRetention, nameof(o.AuditRetention));
        Positive(o.RetentionSweepInterval, nameof(o.RetentionSweepInterval));
        Positive(o.SweepInterval, nameof(o.SweepInterval));
        if (o.DefaultTimeout < o.MinTimeout || o.DefaultTimeout > o.MaxTimeout)
            errors.Add($"{RpcOptions.Section}:DefaultTimeout must lie between MinTimeout and MaxTimeout (got {o.DefaultTimeout}).");
        if (o.DefaultTtl > o.MaxTtl)
            errors.Add($"{RpcOptions.Section}:DefaultTtl must be at most MaxTtl (got {o.DefaultTtl} > {o.MaxTtl}).");
        if (o.MaxTtl < TimeSpan.FromSeconds(1))
            errors.Add($"{RpcOptions.Section}:MaxTtl must be at least one second (ttlSeconds is whole seconds).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>The [Range] checks of Gateway:Rpc, compiled (no reflection).</summary>
[OptionsValidator]
internal sealed partial class RpcOptionsAnnotations : IValidateOptions<RpcOptions>;
