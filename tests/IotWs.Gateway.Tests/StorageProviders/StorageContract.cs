using IotWs.Gateway.Configuration;
using IotWs.Gateway.Identity;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace IotWs.Gateway.Tests.StorageProviders;

/// <summary>
/// The behaviour every storage provider owes the gateway, run once per provider (<see cref="SqliteStorageContractTests"/>,
/// <see cref="PostgresStorageContractTests"/>) against a real database: exactly once, duplicates answered with the
/// first insert id, rollups, retention, history paging, RPC queue order, idempotency, credentials, presence, alerts, leases.
/// </summary>
public abstract class StorageContract : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private readonly List<Stores> _opened = [];

    /// <summary>The stores of one provider over one database; a new instance over the same database is a restarted gateway.</summary>
    protected sealed record Stores(IReadingStore Readings, ICredentialStore Credentials, IPresenceStore Presence, IAlertStore Alerts, IRpcCallStore Calls, IStorageInfo Info, ILeaseStore Leases);

    /// <summary>Prepares a new, empty database for this test.</summary>
    protected abstract Task CreateDatabaseAsync();

    /// <summary>New store instances over this test's database (what a gateway start makes).</summary>
    protected abstract Stores OpenStores(FieldProtector protector);

    protected abstract Task DropDatabaseAsync();

    public Task InitializeAsync() => CreateDatabaseAsync();

    public async Task DisposeAsync()
    {
        foreach (var s in _opened) Close(s);
        await DropDatabaseAsync();
    }

    protected static FieldProtector Protector(params string[] encrypt) =>
        new(new EphemeralDataProtectionProvider(), Options.Create(new GatewayOptions { FieldsToEncrypt = encrypt }));

    private Stores Open(FieldProtector? protector = null)
    {
        var stores = OpenStores(protector ?? Protector());
        stores.Readings.Open();
        _opened.Add(stores);
        return stores;
    }

    private void Restart(Stores stores)
    {
        Close(stores);
        _opened.Remove(stores);
    }

    private static void Close(Stores s)
    {
        s.Readings.Flush();
        (s.Readings as IDisposable)?.Dispose();
        s.Presence.Dispose();
        s.Alerts.Dispose();
    }

    private static ReadingWrite Reading(string device, long? boot, long? seq, DateTimeOffset at, double t = 21.5, double h = 40, object? deviceTs = null, string? sensor = "dht22") =>
        new(device, boot, seq, at, deviceTs, t, h, sensor, "lab", null);

    private static WriteBatch Batch(params ReadingWrite[] readings)
    {
        var batch = new WriteBatch();
        batch.Readings.AddRange(readings);
        return batch;
    }

    // ---- readings

    [ProviderFact]
    public async Task A_reading_is_stored_once_and_its_duplicate_is_answered_with_the_first_insert_id()
    {
        var s = Open();
        var first = Batch(Reading("esp-1", 1, 1, T0), Reading("esp-1", 1, 2, T0.AddSeconds(2)), Reading("esp-1", 1, 2, T0.AddSeconds(2)));
        s.Readings.Commit(first);
        Assert.Equal(3, first.ReadingOutcomes.Count);
        Assert.False(first.ReadingOutcomes[0].Duplicate);
        Assert.False(first.ReadingOutcomes[1].Duplicate);
        Assert.Equal(new WriteOutcome(first.ReadingOutcomes[1].InsertId, true), first.ReadingOutcomes[2]);

        var again = Batch(Reading("esp-1", 1, 1, T0, t: 99), Reading("esp-1", 1, 3, T0.AddSeconds(4)), Reading("esp-2", 1, 1, T0));
        s.Readings.Commit(again);
        Assert.Equal(new WriteOutcome(first.ReadingOutcomes[0].InsertId, true), again.ReadingOutcomes[0]);
        Assert.False(again.ReadingOutcomes[1].Duplicate);
        Assert.False(again.ReadingOutcomes[2].Duplicate);

        var stored = await s.Readings.ReadingsAsync("esp-1", T0.AddHours(-1), T0.AddHours(1), 100, default);
        Assert.Equal([1L, 2, 3], stored.Select(r => r.Seq!.Value));
        Assert.Equal(21.5, stored[0].Temperature);
    }

    [ProviderFact]
    public async Task A_duplicate_sent_after_a_restart_still_gets_the_first_insert_id()
    {
        var s = Open();
        var first = Batch(Reading("esp-1", 7, 41, T0), Reading("esp-1", 7, 42, T0.AddSeconds(1)));
        s.Readings.Commit(first);
        Restart(s);

        var after = Open();
        Assert.Equal(first.ReadingOutcomes[1].InsertId, after.Readings.LastReadingId);
        var replay = Batch(Reading("esp-1", 7, 42, T0.AddSeconds(1)), Reading("esp-1", 7, 43, T0.AddSeconds(2)));
        after.Readings.Commit(replay);
        Assert.Equal(new WriteOutcome(first.ReadingOutcomes[1].InsertId, true), replay.ReadingOutcomes[0]);
        Assert.True(replay.ReadingOutcomes[1].InsertId > first.ReadingOutcomes[1].InsertId);
        Assert.Equal(3, (await after.Readings.ReadingsAsync("esp-1", T0.AddHours(-1), T0.AddHours(1), 100, default)).Count);
    }

    [ProviderFact]
    public async Task Readings_without_boot_id_and_seq_are_never_duplicates_and_ids_only_grow()
    {
        var s = Open();
        var batch = Batch(Reading("esp-1", null, null, T0), Reading("esp-1", null, null, T0), Reading("esp-1", 1, null, T0.AddSeconds(1)));
        s.Readings.Commit(batch);
        Assert.All(batch.ReadingOutcomes, o => Assert.False(o.Duplicate));
        var ids = batch.ReadingOutcomes.Select(o => o.InsertId).ToList();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(3, ids.Distinct().Count());
        Assert.Equal(ids[^1], s.Readings.LastReadingId);
        Assert.Equal(3, (await s.Readings.ReadingsAsync("esp-1", T0.AddHours(-1), T0.AddHours(1), 100, default)).Count);
    }

    [ProviderFact]
    public async Task Events_are_stored_in_the_same_commit_with_increasing_ids()
    {
        var s = Open();
        var batch = Batch(Reading("esp-1", 1, 1, T0));
        batch.Events.Add(new EventWrite(T0, "application", "client-1", "tech", "esp-1", 1, 2, """{"a":1}"""));
        batch.Events.Add(new EventWrite(T0, "service", "client-2", null, null, null, null, """{"b":2}"""));
        s.Readings.Commit(batch);
        Assert.Equal(2, batch.EventIds.Count);
        Assert.True(batch.EventIds[1] > batch.EventIds[0]);
        Assert.Single(batch.ReadingOutcomes);
    }

    [ProviderFact]
    public async Task History_pages_from_the_newest_back_and_each_page_is_oldest_first()
    {
        var s = Open();
        s.Readings.Commit(Batch(Enumerable.Range(0, 10).Select(i => Reading("esp-1", 1, i, T0.AddMinutes(i), t: i)).ToArray()));
        s.Readings.Commit(Batch(Reading("esp-other", 1, 0, T0.AddMinutes(3))));

        var page1 = await s.Readings.ReadingsAsync("esp-1", T0, T0.AddMinutes(9), 4, default);
        Assert.Equal([6.0, 7, 8, 9], page1.Select(r => r.Temperature));
        var page2 = await s.Readings.ReadingsAsync("esp-1", T0, page1[0].Timestamp.AddMilliseconds(-1), 4, default);
        Assert.Equal([2.0, 3, 4, 5], page2.Select(r => r.Temperature));
        var page3 = await s.Readings.ReadingsAsync("esp-1", T0, page2[0].Timestamp.AddMilliseconds(-1), 4, default);
        Assert.Equal([0.0, 1], page3.Select(r => r.Temperature));
        Assert.Empty(await s.Readings.ReadingsAsync("esp-1", T0.AddDays(1), T0.AddDays(2), 4, default));
        Assert.Equal(T0.AddMinutes(9), page1[^1].Timestamp);
        Assert.Equal("esp-1", page1[^1].DeviceId);
        Assert.Equal(1, page1[^1].BootId);
        Assert.Equal("dht22", page1[^1].SensorId);
        Assert.Equal("lab", page1[^1].Location);
    }

    [ProviderFact]
    public async Task Latest_is_the_newest_by_timestamp_and_the_highest_boot_id_is_known()
    {
        var s = Open();
        Assert.Null(await s.Readings.LatestAsync("esp-1", default));
        Assert.Null(await s.Readings.HighestBootIdAsync("esp-1", default));
        s.Readings.Commit(Batch(Reading("esp-1", 5, 1, T0.AddMinutes(10), t: 1), Reading("esp-1", 3, 9, T0, t: 2)));
        // Arrives later, but was taken earlier: not the latest.
        s.Readings.Commit(Batch(Reading("esp-1", 4, 1, T0.AddMinutes(5), t: 3)));
        Assert.Equal(1, (await s.Readings.LatestAsync("esp-1", default))!.Temperature);
        Assert.Equal(5, await s.Readings.HighestBootIdAsync("esp-1", default));
        Assert.Null(await s.Readings.HighestBootIdAsync("esp-2", default));
    }

    [ProviderFact]
    public async Task The_device_timestamp_reads_back_with_its_type_and_encrypted_fields_read_back_plain()
    {
        var protector = Protector("sensorId");
        var s = Open(protector);
        s.Readings.Commit(Batch(
            Reading("esp-1", 1, 1, T0, deviceTs: 123456L, sensor: protector.ForStorage("sensorId", "secret-sensor")),
            Reading("esp-1", 1, 2, T0.AddSeconds(1), deviceTs: "not-a-time"),
            Reading("esp-1", 1, 3, T0.AddSeconds(2), deviceTs: 1.5)));
        var rows = await s.Readings.ReadingsAsync("esp-1", T0, T0.AddMinutes(1), 10, default);
        Assert.Equal(123456L, rows[0].DeviceTimestamp);
        Assert.Equal("secret-sensor", rows[0].SensorId);
        Assert.Equal("not-a-time", rows[1].DeviceTimestamp);
        Assert.Equal(1.5, rows[2].DeviceTimestamp);
    }

    [ProviderFact]
    public async Task Rollups_equal_the_aggregates_of_the_raw_readings_also_after_a_restart()
    {
        var s = Open();
        // Minute 0: 20, 22, 27 (two commits); minute 1: 30. Hour: all four.
        s.Readings.Commit(Batch(Reading("esp-1", 1, 1, T0.AddSeconds(5), t: 20, h: 40), Reading("esp-1", 1, 2, T0.AddSeconds(25), t: 22, h: 50)));
        s.Readings.Commit(Batch(Reading("esp-1", 1, 3, T0.AddSeconds(45), t: 27, h: 60), Reading("esp-1", 1, 4, T0.AddSeconds(65), t: 30, h: 70),
            Reading("esp-1", 1, 3, T0.AddSeconds(45), t: 27, h: 60)));
        await AssertRollups(s);
        Restart(s);
        await AssertRollups(Open());

        static async Task AssertRollups(Stores s)
        {
            var minutes = await s.Readings.RollupsAsync("esp-1", Resolution.Minute, T0, T0.AddMinutes(5), 10, default);
            Assert.Equal(2, minutes.Count);
            Assert.Equal(new RollupRow(T0, 3, 20, 27, 23, 40, 60, 50), minutes[0]);
            Assert.Equal(new RollupRow(T0.AddMinutes(1), 1, 30, 30, 30, 70, 70, 70), minutes[1]);
            var hours = await s.Readings.RollupsAsync("esp-1", Resolution.Hour, T0.AddMinutes(-30), T0.AddMinutes(30), 10, default);
            Assert.Equal([new RollupRow(T0, 4, 20, 30, 24.75, 40, 70, 55)], hours);
            Assert.Single(await s.Readings.RollupsAsync("esp-1", Resolution.Minute, T0, T0.AddMinutes(5), 1, default), r => r.Bucket == T0.AddMinutes(1));
        }
    }

    [ProviderFact]
    public async Task Retention_deletes_what_expired_keeps_the_rest_and_never_hands_an_id_out_twice()
    {
        var s = Open();
        var old = Batch(Reading("esp-1", 1, 1, T0.AddDays(-40)), Reading("esp-2", 1, 1, T0.AddDays(-40)), Reading("esp-1", 1, 2, T0));
        old.Events.Add(new EventWrite(T0.AddDays(-40), "application", "c", null, "esp-1", null, null, "{}"));
        s.Readings.Commit(old);
        s.Readings.Flush();
        var result = await s.Readings.DeleteExpiredAsync(new RetentionCutoffs(T0.AddDays(-30), T0.AddDays(-30), null), default);
        Assert.Equal(2, result.Readings);
        Assert.Equal(1, result.Events);
        Assert.Equal(2, result.MinuteRollups);
        Assert.Equal(0, result.HourRollups);
        Assert.Equal([2L], (await s.Readings.ReadingsAsync("esp-1", T0.AddDays(-50), T0.AddDays(1), 10, default)).Select(r => r.Seq!.Value));
        Assert.Empty(await s.Readings.RollupsAsync("esp-2", Resolution.Minute, T0.AddDays(-50), T0, 10, default));
        Assert.Single(await s.Readings.RollupsAsync("esp-2", Resolution.Hour, T0.AddDays(-50), T0, 10, default));

        // Even when every row is gone, a restarted store goes on above the last id.
        await s.Readings.DeleteExpiredAsync(new RetentionCutoffs(T0.AddDays(1), null, null), default);
        Restart(s);
        var after = Open();
        var next = Batch(Reading("esp-1", 2, 1, T0.AddDays(2)));
        after.Readings.Commit(next);
        Assert.True(next.ReadingOutcomes[0].InsertId > old.ReadingOutcomes[2].InsertId);
    }

    // ---- credentials

    [ProviderFact]
    public void Devices_and_keys_are_kept_as_hashes_and_only_active_ones_authenticate()
    {
        var s = Open();
        var identities = new IdentityStore(s.Credentials);
        var token = identities.AddDevice("esp-1", "Kitchen", "house");
        var key = identities.AddKey("ops", "technician");
        Assert.Throws<IdentityException>(() => identities.AddDevice("esp-1", null, null));
        Assert.Throws<IdentityException>(() => identities.AddKey("ops", "viewer"));

        var (_, active) = s.Credentials.LoadActive(T0);
        Assert.Equal(2, active.Count);
        Assert.All(active, c => Assert.Equal(32, c.Hash.Length));
        Assert.Contains(active, c => c.Kind == CredentialKind.DeviceToken && c.Name == "esp-1" && c.Hash.SequenceEqual(Secrets.Hash(token)));
        Assert.Contains(active, c => c.Kind == CredentialKind.ApiKey && c.Name == "ops" && c.Role == "technician" && c.Hash.SequenceEqual(Secrets.Hash(key)));
        Assert.Equal("device:esp-1", identities.Authenticate(token)!.Principal);
        Assert.Equal("technician", identities.Authenticate(key)!.Role);
        Assert.Null(identities.Authenticate(token + "x"));
        Assert.Equal(new DeviceCredentialRow("esp-1", "Kitchen", "house", s.Credentials.FindDevice("esp-1")!.CreatedAt, false), s.Credentials.FindDevice("esp-1"));
        Assert.Null(s.Credentials.FindDevice("esp-9"));

        identities.RevokeDevice("esp-1");
        identities.RevokeKey("ops");
        Assert.Null(identities.Authenticate(token));
        Assert.Null(identities.Authenticate(key));
        Assert.True(s.Credentials.FindDevice("esp-1")!.Revoked);
        Assert.True(Assert.Single(s.Credentials.ListKeys()).Revoked);
        Assert.False(s.Credentials.RevokeDevice("esp-9"));
        Assert.False(s.Credentials.RevokeKey("nobody"));

        // A new token lifts the revocation; the old token stays dead.
        var rotated = identities.RotateToken("esp-1");
        Assert.Null(identities.Authenticate(token));
        Assert.NotNull(identities.Authenticate(rotated));
        Assert.False(s.Credentials.ReplaceDeviceToken("esp-9", Secrets.Hash("x")));
    }

    [ProviderFact]
    public void Lists_are_ordered_by_name_and_the_change_counter_moves_with_every_write()
    {
        var s = Open();
        var v0 = s.Credentials.Version();
        Assert.True(s.Credentials.InsertDevice("esp-b", null, null, Secrets.Hash("b"), T0));
        Assert.True(s.Credentials.InsertDevice("esp-A", null, null, Secrets.Hash("a"), T0));
        Assert.True(s.Credentials.InsertDevice("esp-a", null, null, Secrets.Hash("c"), T0));
        var v1 = s.Credentials.Version();
        Assert.True(v1 > v0);
        Assert.Equal(["esp-A", "esp-a", "esp-b"], s.Credentials.ListDevices().Select(d => d.DeviceId));
        Assert.False(s.Credentials.HasActiveAdminKey());
        Assert.True(s.Credentials.InsertKey("root", "admin", Secrets.Hash("k"), T0));
        Assert.True(s.Credentials.HasActiveAdminKey());
        var v2 = s.Credentials.Version();
        Assert.True(v2 > v1);
        Assert.True(s.Credentials.RevokeKey("root"));
        Assert.True(s.Credentials.Version() > v2);
        Assert.False(s.Credentials.HasActiveAdminKey());
        Assert.Equal(s.Credentials.Version(), s.Credentials.LoadActive(T0).Version);
    }

    [ProviderFact]
    public void A_login_code_is_spent_by_its_first_use_and_its_session_ends_when_revoked_or_expired()
    {
        var s = Open();
        var identities = new IdentityStore(s.Credentials);
        identities.AddKey("ops", "viewer");
        var code = identities.CreateLoginCode("ops", T0);
        var session = identities.RedeemLoginCode(code.Code, T0.AddMinutes(1), TimeSpan.FromHours(8));
        Assert.NotNull(session);
        Assert.Equal("viewer", session.Identity.Role);
        Assert.Null(identities.RedeemLoginCode(code.Code, T0.AddMinutes(1), TimeSpan.FromHours(8)));
        Assert.Equal("ops", identities.Authenticate(session.Token, T0.AddHours(1))!.Principal);
        Assert.Null(identities.Authenticate(session.Token, T0.AddHours(9)));

        var late = identities.CreateLoginCode("ops", T0);
        Assert.Null(identities.RedeemLoginCode(late.Code, T0.AddMinutes(11), TimeSpan.FromHours(8)));

        Assert.True(identities.RevokeLoginSession(session.Identity.Credential));
        Assert.False(identities.RevokeLoginSession(session.Identity.Credential));
        Assert.Null(identities.Authenticate(session.Token, T0.AddHours(1)));

        var forRevokedKey = identities.CreateLoginCode("ops", T0);
        identities.RevokeKey("ops");
        Assert.Null(identities.RedeemLoginCode(forRevokedKey.Code, T0.AddMinutes(1), TimeSpan.FromHours(8)));
    }

    // ---- presence

    [ProviderFact]
    public void Presence_state_and_history_survive_a_restart_newest_first()
    {
        var s = Open();
        var hb = TimeSpan.FromSeconds(30);
        s.Presence.RecordChange(new PresenceTransition("esp-1", "online", "connected", T0), new PresenceRow("esp-1", "online", T0, T0, 3, hb, """{"rssi":-60}"""));
        s.Presence.RecordChange(new PresenceTransition("esp-1", "offline", "connection lost", T0.AddMinutes(5)), new PresenceRow("esp-1", "offline", T0.AddMinutes(5), T0.AddMinutes(4), 3, hb, null));
        s.Presence.SaveStates([new PresenceRow("esp-2", "online", T0, T0.AddMinutes(6), null, hb, null), new PresenceRow("esp-2", "online", T0, T0.AddMinutes(7), null, hb, null)]);
        s.Presence.RecordChange(new PresenceTransition("esp-2", "online", "connected", T0), new PresenceRow("esp-2", "online", T0, T0.AddMinutes(8), null, hb, null));
        s.Presence.Flush();
        Restart(s);

        var after = Open();
        var rows = after.Presence.LoadAll().OrderBy(r => r.DeviceId, StringComparer.Ordinal).ToList();
        Assert.Equal([new PresenceRow("esp-1", "offline", T0.AddMinutes(5), T0.AddMinutes(4), 3, hb, null), new PresenceRow("esp-2", "online", T0, T0.AddMinutes(8), null, hb, null)], rows);
        Assert.Equal(["connection lost", "connected"], after.Presence.History("esp-1", 10).Select(c => c.Reason));
        Assert.Single(after.Presence.History("esp-1", 1));
        after.Presence.PruneHistory(T0.AddMinutes(1));
        Assert.Equal([new PresenceTransition("esp-1", "offline", "connection lost", T0.AddMinutes(5))], after.Presence.History("esp-1", 10));
    }

    // ---- alerts

    [ProviderFact]
    public void Alerts_get_new_ids_update_in_place_and_list_newest_first()
    {
        var s = Open();
        var a = s.Alerts.NextId();
        var b = s.Alerts.NextId();
        Assert.True(b > a);
        var raised = new AlertRow(a, "too-hot", "temperature", "esp-1", "warning", "active", "31 °C", 31, T0, null, T0.AddMinutes(-2), 1, null, null, null);
        s.Alerts.Save(raised);
        s.Alerts.Save(raised with { Id = b, DeviceId = "esp-2" });
        var cleared = raised with { State = "cleared", ClearedAt = T0.AddMinutes(5), Resolution = "back below 29 °C", AcknowledgedBy = "ops", AcknowledgedAt = T0.AddMinutes(1), Occurrences = 3 };
        s.Alerts.Save(cleared);
        Assert.Equal(cleared, s.Alerts.Get(a));
        Assert.Null(s.Alerts.Get(b + 1000));
        Assert.Equal([b, a], s.Alerts.List(null, null, 10).Select(x => x.Id));
        Assert.Equal([b], s.Alerts.List("active", null, 10).Select(x => x.Id));
        Assert.Equal([a], s.Alerts.List(null, "esp-1", 10).Select(x => x.Id));
        Assert.Single(s.Alerts.List(null, null, 1));
        Restart(s);
        var after = Open();
        Assert.True(after.Alerts.NextId() > b);
        Assert.Equal(cleared, after.Alerts.Get(a));
    }

    // ---- RPC calls

    private static RpcCallRow Call(string id, string device, DateTimeOffset at, string status = "queued", string? key = null, bool persistent = true) => new()
    {
        Id = id, DeviceId = device, Endpoint = "ping", DataJson = "{}", Status = status, Caller = "ops", Role = "technician",
        CreatedAt = at, UpdatedAt = at, Persistent = persistent, ExpiresAt = at.AddHours(1), TimeoutMs = 5000,
        IdempotencyKey = key, IdempotentUntil = key is null ? null : at.AddHours(24), History = [new RpcStatusRow(status, at)],
    };

    [ProviderFact]
    public void Queued_calls_of_a_device_come_out_in_the_order_they_were_made()
    {
        var s = Open();
        s.Calls.Insert(Call("rpc_b", "esp-1", T0.AddSeconds(1)));
        s.Calls.Insert(Call("rpc_a", "esp-1", T0.AddSeconds(2)));
        s.Calls.Insert(Call("rpc_other", "esp-2", T0));
        Assert.Equal(2, s.Calls.CountQueued("esp-1"));
        Assert.Equal(3, s.Calls.CountQueued(null));
        Assert.Equal(["esp-1", "esp-2"], s.Calls.DevicesWithQueuedCalls().Order(StringComparer.Ordinal));
        Assert.Equal("rpc_b", s.Calls.NextQueued("esp-1", T0.AddMinutes(1))!.Id);
        Assert.True(s.Calls.Transition("rpc_b", "queued", "sent", T0.AddMinutes(1), new RpcCallChange(SentAt: T0.AddMinutes(1))));
        Assert.Equal("rpc_a", s.Calls.NextQueued("esp-1", T0.AddMinutes(1))!.Id);
        Assert.Null(s.Calls.NextQueued("esp-1", T0.AddHours(2)));
        Assert.Equal(["rpc_other", "rpc_a", "rpc_b"], s.Calls.List(null, 10).Select(c => c.Id));
        Assert.Equal(["rpc_a", "rpc_b"], s.Calls.List("esp-1", 10).Select(c => c.Id));
        Assert.Equal(["rpc_b"], s.Calls.IdsInStatus("sent"));
        Assert.Equal(["rpc_a"], s.Calls.IdsInStatus("queued", "esp-1"));
        Assert.Equal(["rpc_a", "rpc_other"], s.Calls.IdsInStatus("queued", null, RpcDeadline.Expiry, T0.AddHours(1).AddSeconds(3)));
    }

    [ProviderFact]
    public void A_status_change_is_compare_and_set_and_every_status_is_in_the_history()
    {
        var s = Open();
        s.Calls.Insert(Call("rpc_1", "esp-1", T0));
        Assert.True(s.Calls.Transition("rpc_1", "queued", "sent", T0.AddSeconds(1), new RpcCallChange(SentAt: T0.AddSeconds(1))));
        Assert.False(s.Calls.Transition("rpc_1", "queued", "sent", T0.AddSeconds(2), new RpcCallChange()));
        Assert.True(s.Calls.Transition("rpc_1", "sent", "rebooting", T0.AddSeconds(3), new RpcCallChange(ResultJson: """{"ok":true}""", DurationMs: 2000, AckBootId: 8, ConfirmDeadline: T0.AddMinutes(2))));
        Assert.False(s.Calls.Transition("nope", "sent", "failed", T0, new RpcCallChange()));
        Assert.Equal(["rpc_1"], s.Calls.IdsInStatus("rebooting", "esp-1", RpcDeadline.RebootConfirmation, T0.AddMinutes(2)));
        Assert.Empty(s.Calls.IdsInStatus("rebooting", "esp-1", RpcDeadline.RebootConfirmation, T0.AddMinutes(1)));
        Assert.True(s.Calls.Transition("rpc_1", "rebooting", "confirmed", T0.AddSeconds(30), new RpcCallChange(Completes: true)));

        var call = s.Calls.Get("rpc_1")!;
        Assert.Equal("confirmed", call.Status);
        Assert.Equal(["queued", "sent", "rebooting", "confirmed"], call.History.Select(h => h.Status));
        Assert.Equal(T0.AddSeconds(30), call.History[^1].At);
        Assert.Equal(T0.AddSeconds(30), call.CompletedAt);
        Assert.Equal(T0.AddSeconds(1), call.SentAt);
        Assert.Equal("""{"ok":true}""", call.ResultJson);
        Assert.Equal(2000, call.DurationMs);
        Assert.Equal(8, call.AckBootId);
        Assert.Equal(T0.AddMinutes(2), call.ConfirmDeadline);
        Assert.True(call.Persistent);
        Assert.Equal(5000, call.TimeoutMs);
        Assert.Null(s.Calls.Get("nope"));
    }

    [ProviderFact]
    public void A_call_that_never_left_goes_back_to_the_queue_without_its_sent_step()
    {
        var s = Open();
        s.Calls.Insert(Call("rpc_1", "esp-1", T0));
        Assert.True(s.Calls.Transition("rpc_1", "queued", "sent", T0.AddSeconds(1), new RpcCallChange(SentAt: T0.AddSeconds(1))));
        s.Calls.RevertToQueued("rpc_1");
        var call = s.Calls.Get("rpc_1")!;
        Assert.Equal("queued", call.Status);
        Assert.Null(call.SentAt);
        Assert.Equal(["queued"], call.History.Select(h => h.Status));
        s.Calls.RevertToQueued("rpc_1");
        Assert.Equal(["queued"], s.Calls.Get("rpc_1")!.History.Select(h => h.Status));
    }

    [ProviderFact]
    public void An_idempotency_key_finds_the_newest_open_call_but_not_one_that_failed_unsent()
    {
        var s = Open();
        s.Calls.Insert(Call("rpc_old", "esp-1", T0, "succeeded", key: "k1"));
        s.Calls.Insert(Call("rpc_new", "esp-1", T0.AddSeconds(1), "succeeded", key: "k1"));
        s.Calls.Insert(Call("rpc_unsent", "esp-1", T0.AddSeconds(2), "failed", key: "k2", persistent: false));
        s.Calls.Insert(Call("rpc_elsewhere", "esp-2", T0.AddSeconds(3), "succeeded", key: "k1"));
        Assert.Equal("rpc_new", s.Calls.FindByIdempotencyKey("esp-1", "k1", T0.AddMinutes(1))!.Id);
        Assert.Null(s.Calls.FindByIdempotencyKey("esp-1", "k1", T0.AddDays(2)));
        Assert.Null(s.Calls.FindByIdempotencyKey("esp-1", "k2", T0.AddMinutes(1)));
        Assert.Null(s.Calls.FindByIdempotencyKey("esp-1", "k3", T0.AddMinutes(1)));
    }

    [ProviderFact]
    public void Finished_calls_expire_with_their_history_and_open_ones_stay_whatever_their_age()
    {
        var s = Open();
        s.Calls.Insert(Call("rpc_done", "esp-1", T0.AddDays(-10), "succeeded"));
        s.Calls.Insert(Call("rpc_open", "esp-1", T0.AddDays(-10), "queued"));
        s.Calls.Insert(Call("rpc_recent", "esp-1", T0, "failed"));
        Assert.Equal(1, s.Calls.DeleteFinishedBefore(T0.AddDays(-1)));
        Assert.Null(s.Calls.Get("rpc_done"));
        Assert.NotNull(s.Calls.Get("rpc_open"));
        Assert.NotNull(s.Calls.Get("rpc_recent"));
    }

    [ProviderFact]
    public void A_sent_call_records_its_node_and_each_node_finds_only_its_own()
    {
        var s = Open();
        s.Calls.Insert(Call("rpc_a", "esp-1", T0, "sent", persistent: false) with { SentAt = T0, Node = "node-a" });
        s.Calls.Insert(Call("rpc_single", "esp-2", T0.AddSeconds(1), "sent", persistent: false) with { SentAt = T0.AddSeconds(1) });
        s.Calls.Insert(Call("rpc_queued", "esp-3", T0.AddSeconds(2)));
        Assert.True(s.Calls.Transition("rpc_queued", "queued", "sent", T0.AddSeconds(10), new RpcCallChange(SentAt: T0.AddSeconds(10), Node: "node-b")));

        Assert.Equal("node-a", s.Calls.Get("rpc_a")!.Node);
        Assert.Null(s.Calls.Get("rpc_single")!.Node);
        Assert.Equal("node-b", s.Calls.Get("rpc_queued")!.Node);
        Assert.Equal(["rpc_a"], s.Calls.SentIdsOf("node-a"));
        Assert.Equal(["rpc_queued"], s.Calls.SentIdsOf("node-b"));
        Assert.Equal(["rpc_single"], s.Calls.SentIdsOf(null));
        Assert.Equal(["node-a", "node-b"], s.Calls.NodesWithSentCalls().Order(StringComparer.Ordinal));
        // Sent before a moment: a node just heard of keeps what it sent since.
        Assert.Empty(s.Calls.SentIdsOf("node-b", T0.AddSeconds(10)));
        Assert.Equal(["rpc_queued"], s.Calls.SentIdsOf("node-b", T0.AddSeconds(11)));

        // A call that goes back to the queue belongs to no node; a finished one is no longer any node's.
        s.Calls.RevertToQueued("rpc_queued");
        Assert.Null(s.Calls.Get("rpc_queued")!.Node);
        Assert.True(s.Calls.Transition("rpc_a", "sent", "failed", T0.AddSeconds(20), new RpcCallChange(Error: "gateway_restarted", Completes: true)));
        Assert.Empty(s.Calls.SentIdsOf("node-a"));
        Assert.Empty(s.Calls.NodesWithSentCalls());
        Assert.Equal("node-a", s.Calls.Get("rpc_a")!.Node);
    }

    // ---- leases

    [ProviderFact]
    public void A_lease_is_held_by_one_holder_renewed_only_by_it_and_taken_by_another_once_expired()
    {
        var s = Open();
        Assert.Null(s.Leases.Get("owner"));
        Assert.True(s.Leases.TryAcquire("owner", "node-a", T0, T0.AddSeconds(6)));
        Assert.False(s.Leases.TryAcquire("owner", "node-b", T0.AddSeconds(1), T0.AddSeconds(7)));
        Assert.True(s.Leases.TryAcquire("owner", "node-a", T0.AddSeconds(2), T0.AddSeconds(8)));
        Assert.Equal(new LeaseRow("owner", "node-a", T0.AddSeconds(8)), s.Leases.Get("owner"));
        // Another lease is independent of this one.
        Assert.True(s.Leases.TryAcquire("other", "node-b", T0.AddSeconds(2), T0.AddSeconds(8)));

        Assert.False(s.Leases.TryAcquire("owner", "node-b", T0.AddSeconds(7.9), T0.AddSeconds(14)));
        Assert.True(s.Leases.TryAcquire("owner", "node-b", T0.AddSeconds(8), T0.AddSeconds(14)));
        Assert.False(s.Leases.TryAcquire("owner", "node-a", T0.AddSeconds(9), T0.AddSeconds(15)));
        Assert.Equal("node-b", s.Leases.Get("owner")!.Holder);

        // Survives a restart: the lease is in the database, not in the process.
        Restart(s);
        var again = Open();
        Assert.Equal(new LeaseRow("owner", "node-b", T0.AddSeconds(14)), again.Leases.Get("owner"));
    }

    [ProviderFact]
    public void A_released_lease_is_free_at_once_and_only_its_holder_can_release_it()
    {
        var s = Open();
        Assert.True(s.Leases.TryAcquire("owner", "node-a", T0, T0.AddSeconds(6)));
        s.Leases.Release("owner", "node-b");
        Assert.Equal("node-a", s.Leases.Get("owner")!.Holder);
        s.Leases.Release("owner", "node-a");
        Assert.Null(s.Leases.Get("owner"));
        Assert.True(s.Leases.TryAcquire("owner", "node-b", T0.AddSeconds(1), T0.AddSeconds(7)));
    }

    [ProviderFact]
    public async Task Of_many_holders_taking_a_free_lease_at_once_exactly_one_gets_it()
    {
        var holders = Enumerable.Range(0, 4).Select(i => Open()).ToList();
        using var start = new Barrier(holders.Count);
        var taken = await Task.WhenAll(holders.Select((h, i) => Task.Run(() =>
        {
            start.SignalAndWait();
            return h.Leases.TryAcquire("owner", $"node-{i}", T0, T0.AddSeconds(6));
        })));
        Assert.Single(taken, t => t);
        Assert.Equal($"node-{Array.IndexOf(taken, true)}", holders[0].Leases.Get("owner")!.Holder);
    }

    // ---- storage info

    [ProviderFact]
    public void The_database_describes_itself_and_takes_writes()
    {
        var s = Open();
        var info = s.Info.Describe();
        Assert.Equal(s.Info.Provider, info["provider"]!.GetValue<string>());
        Assert.True(info["sizeBytes"]!.GetValue<long>() > 0);
        Assert.Null(s.Info.WhyNotWritable(TimeSpan.FromSeconds(2)));
    }
}
