using IotWs.Gateway.Configuration;
using IotWs.Gateway.Storage.Postgres;
using IotWs.Gateway.Storage.Sqlite;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Storage;

/// <summary>
/// Registers every feature's storage seam on the provider Gateway:Storage:Provider names: SQLite (the data
/// directory's iotws.db, the default) or PostgreSQL (Gateway:Storage:ConnectionString). The schema is created or
/// migrated when the database is first used, at start.
/// </summary>
public static class StorageServices
{
    public static IServiceCollection AddStorage(this IServiceCollection services)
    {
        services.AddSingleton<SqliteDatabase>();
        services.AddSingleton<SqliteReadingStore>();
        services.AddSingleton<SqliteCredentialStore>();
        services.AddSingleton<SqlitePresenceStore>();
        services.AddSingleton<SqliteAlertStore>();
        services.AddSingleton<SqliteRpcCallStore>();
        services.AddSingleton<SqliteStorageInfo>();
        services.AddSingleton<SqliteDataProtectionKeyStore>();
        services.AddSingleton<SqliteLeaseStore>();

        services.AddSingleton<PostgresDatabase>();
        services.AddSingleton<PostgresReadingStore>();
        services.AddSingleton<PostgresCredentialStore>();
        services.AddSingleton<PostgresPresenceStore>();
        services.AddSingleton<PostgresAlertStore>();
        services.AddSingleton<PostgresRpcCallStore>();
        services.AddSingleton<PostgresStorageInfo>();
        services.AddSingleton<PostgresDataProtectionKeyStore>();
        services.AddSingleton<PostgresLeaseStore>();

        Seam<IReadingStore, SqliteReadingStore, PostgresReadingStore>(services);
        Seam<ICredentialStore, SqliteCredentialStore, PostgresCredentialStore>(services);
        Seam<IPresenceStore, SqlitePresenceStore, PostgresPresenceStore>(services);
        Seam<IAlertStore, SqliteAlertStore, PostgresAlertStore>(services);
        Seam<IRpcCallStore, SqliteRpcCallStore, PostgresRpcCallStore>(services);
        Seam<IStorageInfo, SqliteStorageInfo, PostgresStorageInfo>(services);
        Seam<IDataProtectionKeyStore, SqliteDataProtectionKeyStore, PostgresDataProtectionKeyStore>(services);
        Seam<ILeaseStore, SqliteLeaseStore, PostgresLeaseStore>(services);
        return services;
    }

    /// <summary>The credential store for a CLI verb, on the same provider and database as the gateway's.</summary>
    public static ICredentialStore OpenCredentials(StorageOptions options, string dataDirectory) => options.Provider switch
    {
        StorageProvider.Postgres => new PostgresCredentialStore(new PostgresDatabase(RequireConnectionString(options))),
        _ => new SqliteCredentialStore(new SqliteDatabase(dataDirectory)),
    };

    internal static string RequireConnectionString(StorageOptions options) =>
        string.IsNullOrWhiteSpace(options.ConnectionString)
            ? throw new InvalidOperationException("Gateway:Storage:ConnectionString is required when Gateway:Storage:Provider is Postgres.")
            : options.ConnectionString;

    private static void Seam<TSeam, TSqlite, TPostgres>(IServiceCollection services)
        where TSeam : class
        where TSqlite : class, TSeam
        where TPostgres : class, TSeam =>
        services.AddSingleton<TSeam>(sp => sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Storage.Provider == StorageProvider.Postgres
            ? sp.GetRequiredService<TPostgres>()
            : sp.GetRequiredService<TSqlite>());
}
