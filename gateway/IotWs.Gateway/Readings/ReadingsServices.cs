using System.Text.Json.Nodes;
using IotWs.Gateway.Configuration;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Requests;
using IotWs.Gateway.Status;
using IotWs.Gateway.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Readings;

/// <summary>Registers the readings feature: validation, storage pipeline, history API, retention, field encryption.</summary>
public static class ReadingsServices
{
    private const string DataProtectionPreload = "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService";

    public static IServiceCollection AddReadings(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<GatewayOptions>, ReadingOptionsValidator>();

        // Field encryption keys are kept by storage: <dataDir>/keys on SQLite, the shared database on PostgreSQL.
        services.AddDataProtection().SetApplicationName("IotWs.Gateway");
        services.AddOptions<KeyManagementOptions>().Configure<IDataProtectionKeyStore>((o, keys) => o.XmlRepository = keys);
        // Data protection's own hosted service loads the key ring at start, which makes a key on a new install and
        // loads the XML stack (3 MB resident) even when no field is encrypted. KeyRingStartup below does that load,
        // under the key store's lock, only when a field is.
        // (If a later ASP.NET Core renames it, A_gateway_that_encrypts_no_field_makes_no_key… fails.)
        foreach (var preload in services.Where(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.FullName == DataProtectionPreload).ToList())
            services.Remove(preload);
        services.AddSingleton<FieldProtector>();
        services.AddSingleton<IStoredFieldReader>(sp => sp.GetRequiredService<FieldProtector>());
        services.AddHostedService<KeyRingStartup>();

        services.AddSingleton<LatestReadings>();
        services.AddSingleton<ReadingFanout>();
        services.AddSingleton<ReadingWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<ReadingWriter>());
        services.AddSingleton<ReadingParser>();
        services.AddSingleton<IMessageHandler, ReadingMessageHandler>();

        services.AddSingleton<DeviceDirectory>();
        services.AddSingleton<IPagedRequestEndpoint, GetDevicesEndpoint>();
        services.AddSingleton<IPagedRequestEndpoint, GetReadingsEndpoint>();
        services.AddSingleton<ReadingRetention>();
        services.AddHostedService(sp => sp.GetRequiredService<ReadingRetention>());
        services.AddSingleton<IStatusContributor, ReadingsStatus>();
        return services;
    }
}

/// <summary>
/// Loads the field-encryption key ring at start, under the key store's lock, when any field is encrypted: gateways
/// starting together on one PostgreSQL database then share the first key instead of each making its own (a node
/// would not see another's new key until its cached ring refreshes, up to a day later).
/// </summary>
internal sealed class KeyRingStartup(FieldProtector fields, IDataProtectionKeyStore keys) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!fields.Any) return Task.CompletedTask;
        using (keys.LockKeyCreation()) fields.Protect("key ring check");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Start-time checks of the readings settings.</summary>
internal sealed class ReadingOptionsValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions o)
    {
        var errors = new List<string>();
        foreach (var field in o.FieldsToEncrypt)
        {
            if (field is IotWs.Protocol.Fields.Temperature or IotWs.Protocol.Fields.Humidity)
                errors.Add($"Gateway:FieldsToEncrypt cannot name '{field}': readings are range-checked and rolled up by it.");
        }
        if (!string.Equals(o.Storage.Synchronous, "Full", StringComparison.OrdinalIgnoreCase) && !string.Equals(o.Storage.Synchronous, "Normal", StringComparison.OrdinalIgnoreCase))
            errors.Add($"Gateway:Storage:Synchronous must be Full or Normal (got '{o.Storage.Synchronous}').");
        if (o.Storage.CommitBatchSize > o.Storage.QueueCapacity)
            errors.Add($"Gateway:Storage:CommitBatchSize ({o.Storage.CommitBatchSize}) cannot exceed Gateway:Storage:QueueCapacity ({o.Storage.QueueCapacity}).");
        if (o.Storage.IndexMergeDelay <= TimeSpan.Zero)
            errors.Add("Gateway:Storage:IndexMergeDelay must be positive.");
        if (o.Storage.RollupFlushInterval <= TimeSpan.Zero)
            errors.Add("Gateway:Storage:RollupFlushInterval must be positive.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>The "readings" section of /api/status.</summary>
internal sealed class ReadingsStatus(ReadingWriter writer, IReadingStore store) : IStatusContributor
{
    public string Section => "readings";

    public JsonNode? Snapshot()
    {
        var s = writer.Stats;
        return new JsonObject
        {
            ["total"] = store.LastReadingId,
            ["stored"] = s.Stored,
            ["duplicates"] = s.Duplicates,
            ["refused"] = s.Refused,
            ["failed"] = s.Failed,
            ["events"] = s.Events,
            ["commits"] = s.Commits,
            ["queued"] = s.Queued,
            ["waitingConnections"] = s.WaitingWriters,
            ["lastCommitMs"] = Math.Round(s.LastCommitMs, 2),
            ["lastCommitReadings"] = s.LastCommitRows,
            ["commitSecondsTotal"] = Math.Round(s.CommitSeconds, 3),
            ["pendingIndexEntries"] = store.PendingIndexEntries,
        };
    }
}
