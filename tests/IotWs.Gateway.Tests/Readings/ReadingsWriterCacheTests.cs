using IotWs.Gateway.Configuration;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Storage.Sqlite;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Tests.Readings;

/// <summary>
/// The readings writer's SQLite page cache is resident memory on a Pi: small by default (docs/performance.md, "Memory
/// and footprint"), and Gateway:Storage:CacheSizeKiB sets it on the writer's real connection.
/// </summary>
public sealed class ReadingsWriterCacheTests
{
    private static long OpenedCacheKiB(GatewayOptions options)
    {
        var dir = TestGateway.NewDataDir();
        options.DataDirectory = dir;
        try
        {
            var wrapped = Options.Create(options);
            using var store = new SqliteReadingStore(new SqliteDatabase(dir), wrapped, new FieldProtector(new EphemeralDataProtectionProvider(), wrapped));
            store.Open();
            return store.WriterCacheSizeKiB();
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_readings_writer_opens_with_a_4_MiB_page_cache_by_default()
    {
        Assert.Equal(4096, OpenedCacheKiB(new GatewayOptions()));
    }

    [Fact]
    public void The_readings_writer_takes_the_configured_page_cache_size()
    {
        var options = new GatewayOptions();
        options.Storage.CacheSizeKiB = 1024;
        Assert.Equal(1024, OpenedCacheKiB(options));
    }
}
