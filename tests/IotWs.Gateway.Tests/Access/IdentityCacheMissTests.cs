using IotWs.Gateway.Identity;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace IotWs.Gateway.Tests.Access;

/// <summary>
/// Issue 12 (nit): a credential the cache does not hold reads the identity change counter, so that one the CLI added a
/// moment ago works on its first try; a flood of wrong keys must not make that one database read each. The reads are
/// counted on the storage seam, in front of the gateway's real credential store.
/// </summary>
public sealed class IdentityCacheMissTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private CountingCredentialStore _counted = null!;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _counted = new CountingCredentialStore(_gateway.Service<ICredentialStore>());
    }

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public void A_flood_of_wrong_keys_reads_the_change_counter_once_per_interval_not_once_per_key()
    {
        var cache = new IdentityCache(new IdentityStore(_counted), _time);
        var before = _counted.VersionReads;
        for (var i = 0; i < 1000; i++) Assert.Null(cache.Authenticate("iwk_wrong_" + i));
        Assert.Equal(1, _counted.VersionReads - before);

        // Once the interval has passed, the next miss reads it again (once).
        _time.Advance(IdentityCache.MissRefreshInterval);
        for (var i = 0; i < 1000; i++) Assert.Null(cache.Authenticate("iwk_wrong_again_" + i));
        Assert.Equal(2, _counted.VersionReads - before);
    }

    [Fact]
    public void A_key_added_by_another_process_works_on_its_first_try_and_after_a_miss_once_the_interval_has_passed()
    {
        var cache = new IdentityCache(new IdentityStore(_counted), _time);
        // The CLI: its own IdentityStore on the same database, so this cache hears of it only through the counter.
        var cli = new IdentityStore(_gateway.Service<ICredentialStore>());

        var first = cli.AddKey("cli-first", "viewer");
        Assert.Equal("viewer", cache.Authenticate(first)?.Role);

        Assert.Null(cache.Authenticate("iwk_wrong"));
        var second = cli.AddKey("cli-second", "technician");
        _time.Advance(IdentityCache.MissRefreshInterval);
        Assert.Equal("technician", cache.Authenticate(second)?.Role);
    }

    [Fact]
    public async Task Two_new_keys_presented_at_once_are_both_let_in_the_second_waiting_for_the_first_ones_read()
    {
        var cache = new IdentityCache(new IdentityStore(_counted), _time);
        var cli = new IdentityStore(_gateway.Service<ICredentialStore>());
        var one = cli.AddKey("ha-one", "viewer");
        var two = cli.AddKey("ha-two", "viewer");

        // The first miss's counter read is held (a slow database); the second client arrives meanwhile.
        using var held = new ManualResetEventSlim();
        _counted.Hold = held;
        var reads = _counted.VersionReads;
        var first = Task.Run(() => cache.Authenticate(one)?.Role);
        while (_counted.VersionReads == reads) await Task.Delay(5);
        var second = Task.Run(() => cache.Authenticate(two)?.Role);
        await Task.Delay(200);
        held.Set();

        Assert.Equal("viewer", await first);
        Assert.Equal("viewer", await second);
    }

    /// <summary>Forwards to the real store and counts the change-counter reads.</summary>
    private sealed class CountingCredentialStore(ICredentialStore inner) : ICredentialStore
    {
        private int _versionReads;

        public int VersionReads => Volatile.Read(ref _versionReads);

        /// <summary>When set, a change-counter read waits for it (a slow database).</summary>
        public ManualResetEventSlim? Hold { get; set; }

        public long Version()
        {
            Interlocked.Increment(ref _versionReads);
            Hold?.Wait(TimeSpan.FromSeconds(10));
            return inner.Version();
        }

        public bool InsertDevice(string deviceId, string? name, string? location, byte[] tokenHash, DateTimeOffset createdAt) => inner.InsertDevice(deviceId, name, location, tokenHash, createdAt);
        public bool ReplaceDeviceToken(string deviceId, byte[] tokenHash) => inner.ReplaceDeviceToken(deviceId, tokenHash);
        public bool RevokeDevice(string deviceId) => inner.RevokeDevice(deviceId);
        public IReadOnlyList<DeviceCredentialRow> ListDevices() => inner.ListDevices();
        public DeviceCredentialRow? FindDevice(string deviceId) => inner.FindDevice(deviceId);
        public bool InsertKey(string name, string role, byte[] keyHash, DateTimeOffset createdAt) => inner.InsertKey(name, role, keyHash, createdAt);
        public bool RevokeKey(string name) => inner.RevokeKey(name);
        public IReadOnlyList<ApiKeyRow> ListKeys() => inner.ListKeys();
        public bool HasActiveAdminKey() => inner.HasActiveAdminKey();
        public (long Version, IReadOnlyList<ActiveCredential> Credentials) LoadActive(DateTimeOffset now) => inner.LoadActive(now);
        public void InsertLoginCode(byte[] codeHash, string keyName, DateTimeOffset expiresAt, DateTimeOffset now) => inner.InsertLoginCode(codeHash, keyName, expiresAt, now);
        public RedeemedLoginCode? RedeemLoginCode(byte[] codeHash, DateTimeOffset now, byte[] sessionHash, DateTimeOffset sessionExpiresAt) => inner.RedeemLoginCode(codeHash, now, sessionHash, sessionExpiresAt);
        public bool RevokeLoginSession(byte[] sessionHash) => inner.RevokeLoginSession(sessionHash);
    }
}
