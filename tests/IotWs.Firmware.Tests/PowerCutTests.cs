using System.Collections;
using System.Globalization;
using IotWs.Firmware.Core;
using IotWs.Firmware.Host;
using IotWs.Firmware.Tests.Fakes;
using IotWs.Protocol;

namespace IotWs.Firmware.Tests;

/// <summary>Flash whose next write can be cut at any byte, as a power cut would (the board is then dead until powered on).</summary>
internal sealed class CuttableFlash : IFlashSlots
{
    private readonly byte[]?[] _slots = new byte[]?[2];

    public int Writes { get; private set; }
    public int CutWrite { get; set; } = -1;
    public int CutByte { get; set; }

    /// <summary>A torn write keeps the old bytes after the cut (overwrite in place) instead of ending there (truncate, then write).</summary>
    public bool KeepOldTail { get; set; }

    public bool PoweredOff { get; private set; }
    public List<int> WriteLengths { get; } = [];

    public byte[]? Read(int slot) => _slots[slot]?.ToArray();

    public void Write(int slot, byte[] data)
    {
        if (PoweredOff) throw new IOException("no power");
        var index = Writes++;
        WriteLengths.Add(data.Length);
        if (index == CutWrite && CutByte < data.Length)
        {
            var old = _slots[slot] ?? [];
            byte[] torn = data[..CutByte];
            if (KeepOldTail && old.Length > CutByte) torn = [.. torn, .. old[CutByte..]];
            _slots[slot] = torn;
            PoweredOff = true;
            throw new IOException("power cut");
        }
        _slots[slot] = data.ToArray();
    }

    public void PowerOn() => PoweredOff = false;
}

/// <summary>What the old FlashStore did: one record rewritten in place; an unreadable one starts empty.</summary>
internal sealed class InPlaceStore : IStore
{
    private readonly IFlashSlots _flash;
    private readonly Hashtable _values;

    public InPlaceStore(IFlashSlots flash)
    {
        _flash = flash;
        var data = flash.Read(0);
        _values = (data is null ? null : FlashRecordStore.Decode(data, out _)) ?? [];
    }

    public string? Get(string key) => (string?)_values[key];

    public void Set(string key, string value)
    {
        _values[key] = value;
        _flash.Write(0, FlashRecordStore.Encode(_values, 1));
    }

    public void Remove(string key)
    {
        if (!_values.Contains(key)) return;
        _values.Remove(key);
        _flash.Write(0, FlashRecordStore.Encode(_values, 1));
    }
}

/// <summary>
/// A board's life over several boots on one flash, against a gateway that deduplicates by
/// (device, bootId, seq) like the real one. Every reading carries a unique temperature, so a
/// reading answered as a duplicate of a different one is a reading lost without a word.
/// </summary>
internal sealed class BoardLife(CuttableFlash flash, Func<IFlashSlots, IStore> openStore)
{
    private enum End { Stop, PowerCut }

    // (online, readings, how the boot ends): offline boots keep their readings for the spill.
    private static readonly (bool Online, int Readings, End End)[] Script =
    [
        (true, 3, End.Stop),
        (false, 3, End.Stop),
        (true, 3, End.PowerCut),
        (false, 2, End.PowerCut),
        (true, 3, End.Stop),
        (true, 2, End.Stop),
    ];

    private readonly Dictionary<(long Boot, long Seq), string> _stored = [];
    private readonly FakeClock _clock = new();
    private readonly CountingSensor _sensor = new();
    private readonly SystemTextJsonCodec _json = new();

    public ListLog Log { get; } = new();
    public List<long> BootIds { get; } = [];
    public List<string> FalseDuplicates { get; } = [];
    public int Stored => _stored.Count;
    public string StoredKeys => string.Join(" ", _stored.Keys.Order());

    public BoardLife Run()
    {
        foreach (var (online, readings, end) in Script)
        {
            var transport = new ScriptedTransport { AcceptConnects = online };
            var core = new DeviceCore(DeviceRig.NewSettings(), new DevicePorts
            {
                Transport = transport, Sensor = _sensor, Clock = _clock, Store = openStore(flash), Device = new FakeDevice(),
                Log = Log, Json = _json, Random = new HighestRandom(),
            });
            core.Start();
            if (Died()) continue;
            BootIds.Add(core.BootId);
            if (online) Authenticate(core, transport);
            var taken = core.ReadingsTaken;
            while (core.ReadingsTaken < taken + readings)
            {
                _clock.Advance(500);
                core.Tick();
                Answer(transport);
            }
            for (var i = 0; online && i < 3; i++)
            {
                // The last reading goes out on the next tick; let its answer arrive.
                core.Tick();
                Answer(transport);
            }
            if (end == End.Stop) core.Stop();
            Died();
        }
        return this;
    }

    private bool Died()
    {
        if (!flash.PoweredOff) return false;
        flash.PowerOn();
        return true;
    }

    private void Authenticate(DeviceCore core, ScriptedTransport transport)
    {
        core.Tick();
        core.Tick();
        transport.Deliver(DeviceRig.Welcome());
        core.Tick();
        transport.TakeSent();
        transport.Deliver(DeviceRig.AuthOk());
        core.Tick();
        Assert.Equal(ConnectionState.Running, core.State);
        Answer(transport);
    }

    /// <summary>The gateway's side: store new keys, answer a known key as a duplicate.</summary>
    private void Answer(ScriptedTransport transport)
    {
        foreach (var m in transport.TakeSent().Where(m => (string?)m[Fields.Type] == MessageTypes.Data))
        {
            var items = m[Fields.Batch] is ArrayList batch ? batch.Cast<Hashtable>().ToList() : [m];
            var results = new List<string>();
            var duplicates = new List<bool>();
            foreach (var item in items)
            {
                var key = (Long(item[Fields.BootId]), Long(item[Fields.Seq]));
                var data = (Hashtable)item[Fields.Data]!;
                var content = Convert.ToString(data[Fields.Temperature], CultureInfo.InvariantCulture) + "@" + item[Fields.Timestamp];
                var duplicate = _stored.TryGetValue(key, out var first);
                if (!duplicate) _stored[key] = content;
                else if (first != content) FalseDuplicates.Add($"{key}: {content} answered as a duplicate of {first}");
                duplicates.Add(duplicate);
                results.Add($$"""{"seq":{{key.Item2}},"insertId":1{{(duplicate ? ",\"duplicate\":true" : "")}}}""");
            }
            transport.Deliver(m[Fields.Batch] is null
                ? DeviceRig.Ack(Long(m[Fields.Seq]), 1, duplicates[0])
                : """{"type":"data_response","success":true,"results":[""" + string.Join(",", results) + "]}");
        }
    }

    private static long Long(object? value) => Convert.ToInt64(value, CultureInfo.InvariantCulture);

    private sealed class CountingSensor : ISensor
    {
        private int _reads;

        public bool TryRead(out double temperature, out double humidity)
        {
            temperature = 20 + (_reads++ % 500) / 10.0;
            humidity = 40;
            return true;
        }
    }
}

public class PowerCutTests
{
    /// <summary>Every write of the scripted life, cut at every byte, in both tearing modes.</summary>
    private static IEnumerable<BoardLife> EveryCut(Func<IFlashSlots, IStore> openStore)
    {
        var clean = new CuttableFlash();
        new BoardLife(clean, openStore).Run();
        Assert.True(clean.Writes >= 6, $"the life wrote only {clean.Writes} times");
        for (var write = 0; write < clean.Writes; write++)
        {
            for (var cut = 0; cut < clean.WriteLengths[write]; cut++)
            {
                foreach (var keepOldTail in new[] { false, true })
                {
                    var flash = new CuttableFlash { CutWrite = write, CutByte = cut, KeepOldTail = keepOldTail };
                    yield return new BoardLife(flash, openStore).Run();
                }
            }
        }
    }

    [Fact]
    public void A_power_cut_at_any_byte_of_any_write_never_sends_bootid_back_nor_loses_a_reading_as_a_false_duplicate()
    {
        var lives = 0;
        foreach (var life in EveryCut(flash => new FlashRecordStore(flash)))
        {
            lives++;
            Assert.True(life.BootIds.Zip(life.BootIds.Skip(1)).All(p => p.Second > p.First), "boot ids " + string.Join(",", life.BootIds));
            Assert.Empty(life.FalseDuplicates);
        }
        Assert.True(lives > 1000, $"only {lives} cuts tried");
    }

    [Fact]
    public void The_old_in_place_store_fails_the_same_test()
    {
        // Proves the power-cut test can fail: rewriting one file in place loses the boot counter.
        var broken = EveryCut(flash => new InPlaceStore(flash))
            .Count(life => life.FalseDuplicates.Count > 0 || !life.BootIds.Zip(life.BootIds.Skip(1)).All(p => p.Second > p.First));

        Assert.True(broken > 0);
    }

    [Fact]
    public void Without_power_cuts_the_life_stores_every_reading_once()
    {
        var life = new BoardLife(new CuttableFlash(), flash => new FlashRecordStore(flash)).Run();

        Assert.Equal([1, 2, 3, 4, 5, 6], life.BootIds);
        Assert.Empty(life.FalseDuplicates);
        Assert.True(life.Stored == 14, life.StoredKeys + "\n" + string.Join("\n", life.Log.Lines));
    }

    [Fact]
    public void The_newest_valid_record_wins_and_a_torn_one_is_counted()
    {
        var flash = new CuttableFlash();
        var store = new FlashRecordStore(flash);
        store.Set("bootId", "7");
        store.Set("bootId", "8");
        flash.CutWrite = 2;
        flash.CutByte = 10;
        Assert.Throws<IOException>(() => store.Set("bootId", "9"));
        flash.PowerOn();

        var reopened = new FlashRecordStore(flash);

        Assert.Equal("8", reopened.Get("bootId"));
        Assert.Equal(2, reopened.Sequence);
        Assert.Equal(1, reopened.UnreadableSlots);
    }

    [Theory]
    [InlineData("")]
    [InlineData("plain")]
    [InlineData("12345")]
    [InlineData("2026-11-21T12:00:00.000Z")]
    [InlineData("{\"batch\":[{\"seq\":1,\"t\":\"\\/x\"}]} äöü €")]
    public void Values_come_back_exactly_as_stored_even_when_they_look_like_numbers_dates_or_json(string value)
    {
        var flash = new CuttableFlash();
        new FlashRecordStore(flash).Set("k", value);

        Assert.Equal(value, new FlashRecordStore(flash).Get("k"));
    }

    [Fact]
    public void Setting_the_same_value_again_does_not_write_flash()
    {
        var flash = new CuttableFlash();
        var store = new FlashRecordStore(flash);
        store.Set("readingIntervalMs", "5000");
        store.Set("readingIntervalMs", "5000");
        store.Remove("missing");

        Assert.Equal(1, flash.Writes);
    }
}
