using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Configuration;

/// <summary>Checks what data annotations cannot: intervals and cross-field rules.</summary>
internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions o)
    {
        var errors = new List<string>();
        void Positive(TimeSpan value, string key, TimeSpan? max = null)
        {
            if (value <= TimeSpan.Zero) errors.Add($"Gateway:{key} must be positive (got {value}).");
            else if (max is { } m && value > m) errors.Add($"Gateway:{key} must be at most {m} (got {value}).");
        }
        Positive(o.AuthTimeout, nameof(o.AuthTimeout), TimeSpan.FromMinutes(10));
        Positive(o.HeartbeatInterval, nameof(o.HeartbeatInterval), TimeSpan.FromHours(1));
        Positive(o.Storage.CommitInterval, "Storage:CommitInterval", TimeSpan.FromSeconds(10));
        Positive(o.Storage.RawRetention, "Storage:RawRetention");
        Positive(o.Storage.MinuteRetention, "Storage:MinuteRetention");
        Positive(o.Storage.RetentionSweepInterval, "Storage:RetentionSweepInterval");
        Positive(o.RateLimit.RejectWindow, "RateLimit:RejectWindow");
        Positive(o.SimulateReadingInterval, nameof(o.SimulateReadingInterval));
        if (o.Storage.HourRetention < TimeSpan.Zero) errors.Add("Gateway:Storage:HourRetention must be zero (forever) or positive.");
        if (o.RateLimit.Burst < 1) errors.Add("Gateway:RateLimit:Burst must be at least 1.");
        if (o.Storage.Provider == StorageProvider.Postgres && string.IsNullOrWhiteSpace(o.Storage.ConnectionString))
            errors.Add("Gateway:Storage:ConnectionString is required when Gateway:Storage:Provider is Postgres (an Npgsql connection string, e.g. Host=db;Database=iotws;Username=iotws).");
        errors.AddRange(o.Cluster.Validate(o.Storage));
        foreach (var proxy in o.TrustedProxies)
        {
            if (!TrustedProxies.TryParse(proxy, out _))
                errors.Add($"Gateway:TrustedProxies: '{proxy}' is neither an IP address nor a network in CIDR form (e.g. 10.0.0.0/24).");
        }
        if (string.IsNullOrWhiteSpace(o.DataDirectory)) errors.Add("Gateway:DataDirectory must name a directory.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
