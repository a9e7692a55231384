using System.Text.Json;
using IotWs.Gateway.Observability;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.PubSub;

namespace IotWs.Gateway.Tests.Api;

/// <summary>The rule that gives memory back after a busy spell (Observability/IdleMemoryTrim), and the trim on a real gateway.</summary>
public sealed class IdleMemoryTrimRuleTests
{
    private const long MiB = 1L << 20;
    private static readonly TimeSpan LongAgo = TimeSpan.FromMinutes(10);

    [Fact]
    public void A_quiet_period_after_a_busy_spell_trims()
    {
        Assert.True(IdleMemoryTrim.ShouldTrim(allocatedNow: 500 * MiB, allocatedPeriodAgo: 499 * MiB, allocatedAtTrim: 100 * MiB, LongAgo));
    }

    [Fact]
    public void A_steady_load_is_never_paused_however_much_it_allocated()
    {
        Assert.False(IdleMemoryTrim.ShouldTrim(allocatedNow: 5000 * MiB, allocatedPeriodAgo: 4990 * MiB, allocatedAtTrim: 0, LongAgo));
    }

    [Fact]
    public void Quiet_without_a_busy_spell_before_it_is_not_worth_a_pause()
    {
        Assert.False(IdleMemoryTrim.ShouldTrim(allocatedNow: 150 * MiB, allocatedPeriodAgo: 150 * MiB, allocatedAtTrim: 100 * MiB, LongAgo));
    }

    [Fact]
    public void Trims_are_at_least_a_minute_apart()
    {
        Assert.False(IdleMemoryTrim.ShouldTrim(500 * MiB, 499 * MiB, 100 * MiB, TimeSpan.FromSeconds(30)));
        Assert.True(IdleMemoryTrim.ShouldTrim(500 * MiB, 499 * MiB, 100 * MiB, IdleMemoryTrim.MinimumGap));
    }
}

/// <summary>Runs alone: the trim waits for a quiet process, which the parallel test classes never give.</summary>
[Collection(TimingSensitive.Name)]
public sealed class IdleMemoryTrimTests
{
    [Fact]
    public async Task After_a_busy_spell_a_quiet_gateway_gives_memory_back_and_says_so_in_its_status()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var http = gateway.Http(gateway.AddKey("viewer"));
        var before = await MemoryAsync(http);
        Assert.True(before.GetProperty("trimWhenIdle").GetBoolean());
        Assert.True(before.GetProperty("residentBytes").GetInt64() > 0);

        // A busy spell: well over the 64 MiB of allocations that make a trim worth its pause (the gateway shares this
        // process, so the test's own garbage counts as the gateway's).
        Burst();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        JsonElement memory;
        do
        {
            await Task.Delay(500);
            memory = await MemoryAsync(http);
        }
        while (memory.GetProperty("trims").GetInt64() == before.GetProperty("trims").GetInt64() && DateTime.UtcNow < deadline);
        Assert.True(memory.GetProperty("trims").GetInt64() > before.GetProperty("trims").GetInt64(), "no trim within 30 s of a quiet spell: " + memory);
        Assert.Equal(JsonValueKind.String, memory.GetProperty("lastTrimAt").ValueKind);
    }

    [Fact]
    public async Task With_TrimMemoryWhenIdle_off_nothing_is_trimmed()
    {
        await using var gateway = await TestGateway.StartAsync(null, "TrimMemoryWhenIdle=false");
        using var http = gateway.Http(gateway.AddKey("viewer"));
        Burst();
        // Two periods and a half: the trim would have run by now.
        await Task.Delay(IdleMemoryTrim.Period * 2.5);
        var memory = await MemoryAsync(http);
        Assert.False(memory.GetProperty("trimWhenIdle").GetBoolean());
        Assert.Equal(0, memory.GetProperty("trims").GetInt64());
    }

    private static void Burst()
    {
        long sum = 0;
        for (var i = 0; i < 160; i++)
        {
            var chunk = new byte[1 << 20];
            chunk[i] = 1;
            sum += chunk[^1] + chunk[i];
        }
        Assert.Equal(160, sum);
    }

    private static async Task<JsonElement> MemoryAsync(HttpClient http) =>
        JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.GetProperty("memory").Clone();
}
