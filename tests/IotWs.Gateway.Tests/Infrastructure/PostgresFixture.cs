namespace IotWs.Gateway.Tests.Infrastructure;

/// <summary>One server for every test class of the "postgres" collection; started only where PostgreSQL exists (or CI=true).</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresServer? _server;

    public PostgresServer Server => _server ?? throw new InvalidOperationException(PostgresServer.SkipReason ?? "The PostgreSQL server did not start.");

    public async Task InitializeAsync()
    {
        if (PostgresServer.SkipReason is null) _server = await PostgresServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}

/// <summary>A test that needs PostgreSQL: skipped with the reason where it is not installed, except under CI=true.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (PostgresServer.SkipReason is { } reason) Skip = reason;
    }
}
