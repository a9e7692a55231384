using System.Net;
using System.Reflection;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Storage.Postgres;
using IotWs.Gateway.Tests.Infrastructure;

namespace IotWs.Gateway.Tests.Cluster;

/// <summary>The first admin key when several gateways start at once on one empty PostgreSQL: exactly one makes it.</summary>
[Collection(PostgresCollection.Name)]
public sealed class OwnerAdminKeyTests(PostgresFixture postgres)
{
    private static string[] Storage(string connectionString) => ["Storage:Provider=Postgres", "Storage:ConnectionString=" + connectionString];

    private static string KeyFile(TestGateway g) => Path.Combine(g.DataDir, FirstStartAdminKey.KeyFileName);

    [PostgresFact]
    public async Task Two_gateways_started_at_once_on_an_empty_database_make_one_admin_key_and_both_start()
    {
        // A few rounds, each on a new empty database: the race is between two real starts, so give it chances to happen.
        for (var round = 0; round < 3; round++)
        {
            var connectionString = await postgres.Server.CreateDatabaseAsync();
            var gateways = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => TestGateway.StartAsync(null, Storage(connectionString))));
            try
            {
                var withFile = gateways.Where(g => File.Exists(KeyFile(g))).ToList();
                Assert.Single(withFile);
                var keys = gateways[0].Identities.ListKeys();
                Assert.Equal(["admin"], keys.Select(k => k.Name));
                // The key in the one file is the key both gateways accept.
                var key = File.ReadAllText(KeyFile(withFile[0])).Trim();
                foreach (var g in gateways)
                {
                    var response = await g.Http(key).GetAsync("/api/status");
                    Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
            }
            finally
            {
                foreach (var g in gateways) await g.DisposeAsync();
            }
        }
    }

    [PostgresFact]
    public async Task A_gateway_that_loses_the_race_for_the_admin_key_logs_that_another_node_made_it_and_starts()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync();
        // The other node: its own stores on the same database, inserting 'admin' between this gateway's look and its insert.
        using var otherDb = new PostgresDatabase(connectionString);
        var other = new PostgresCredentialStore(otherDb);
        var logs = new CapturedLogs();
        await using var gateway = await TestGateway.StartAsync(null, b =>
        {
            logs.AddTo(b);
            b.Services.AddSingleton<ICredentialStore>(sp => LosesTheRace.Wrap(sp.GetRequiredService<PostgresCredentialStore>(), other));
        }, Storage(connectionString));

        Assert.False(File.Exists(KeyFile(gateway)), "the gateway that lost the race writes no admin.key");
        Assert.Equal(["admin"], gateway.Identities.ListKeys().Select(k => k.Name));
        Assert.True(gateway.Identities.HasActiveAdminKey());
        Assert.Contains(logs.Entries, e => e.Message.Contains("Another gateway on the same database created the first admin key 'admin'", StringComparison.Ordinal));
        Assert.Empty(logs.Errors);
    }

    /// <summary>A credential store whose first admin-key insert finds the name just taken by another node (a real insert, through that node's store).</summary>
    public class LosesTheRace : DispatchProxy
    {
        private ICredentialStore _inner = null!;
        private ICredentialStore _other = null!;
        private int _raced;

        public static ICredentialStore Wrap(ICredentialStore inner, ICredentialStore other)
        {
            var proxy = Create<ICredentialStore, LosesTheRace>();
            var self = (LosesTheRace)(object)proxy;
            self._inner = inner;
            self._other = other;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod!.Name == nameof(ICredentialStore.InsertKey) && Interlocked.Exchange(ref _raced, 1) == 0)
            {
                _other.InsertKey((string)args![0]!, (string)args[1]!, Secrets.Hash(Secrets.NewSecret(Secrets.ApiKeyPrefix)), DateTimeOffset.UtcNow);
            }
            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
    }
}
