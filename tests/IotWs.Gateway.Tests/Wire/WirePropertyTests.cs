using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using CsCheck;
using IotWs.Gateway.Connections;
using IotWs.Gateway.Readings;
using IotWs.Gateway.Storage;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Wire;
using IotWs.Protocol;
using Xunit.Abstractions;

namespace IotWs.Gateway.Tests.Wire;

/// <summary>
/// Property-based tests (CsCheck) of everything that reads the wire: the frame parser, the reading parser, and the
/// dispatcher with every handler behind it over a real socket. Whatever arrives, nothing throws, nothing is answered
/// internal_error, nothing is logged at error level, and the connection stays open. Each property runs at most its
/// iteration count and at most <see cref="SecondsPerProperty"/> seconds, whichever comes first (see
/// <see cref="PropertyBudget"/>): on a loaded 2-core box it checks fewer cases rather than running long, and the test
/// output says how many it checked. A failure prints its seed (CsCheck_Seed reruns it) and its shrunk message, which
/// then belongs in <see cref="Regressions"/> (or, for the reading parser alone, <see cref="ReadingParserRegressions"/>).
/// </summary>
public sealed class WirePropertyTests(ITestOutputHelper output)
{
    /// <summary>Shrunk failures of these properties (and of the probes of issue 12), kept as fixed cases.</summary>
    public static readonly TheoryData<string> Regressions =
    [
        """{"type":"\udc00"}""",
        """{"type":"heartbeat","requestId":"\ud800"}""",
        """{"type":"auth","token":"\ud800"}""",
        """{"type":"handshake","deviceId":"\ud800","bootId":-7}""",
        """{"type":"data","dataType":"sensor","data":{"temperature":1,"humidity":1,"sensor_id":"\ud800"}}""",
        """{"type":"data","dataType":"x\ud800","data":{"\udc00":"\ud800"}}""",
        """{"type":"sensor_data","temperature":1e400,"humidity":-0,"timestamp":"\ud800"}""",
        """{"type":"publish","topic":"\ud800","data":{"\ud800":["\udfff"]}}""",
        """{"type":"subscribe","topic":"\udc00/#"}""",
        """{"type":"request","requestId":"\ud800","endpoint":"get_readings","data":{"deviceId":"\ud800","cursor":"\ud800"}}""",
        """{"type":"rpc_call","requestId":"\ud800","method":"\ud800","params":{"values":[1e400]}}""",
        """{"type":"stream_start","streamId":"\ud800","streamType":"file_upload","metadata":{"filename":"\ud800"}}""",
        """{"\ud800":1,"type":"heartbeat","timestamp":{"\udc00":"\ud800"}}""",
        // A name twice in one object (fixed in 090f063): the dispatcher and a handler could each read a different one.
        """{"type":"heartbeat","type":7}""",
        """{"type":7,"type":"data","dataType":"sensor","data":{"temperature":1,"humidity":1}}""",
        """{"type":"data","dataType":"sensor","data":{"temperature":1,"humidity":1},"type":"auth"}""",
        """{"type":"request","requestId":"r","endpoint":"get_time","data":{"a":1,"a":2}}""",
        """{"type":"heartbeat","t\u0079pe":"auth"}""",
    ];

    /// <summary>Messages whose object (or one inside it) has a name twice: each is refused whole as invalid_json.</summary>
    public static readonly TheoryData<string> DuplicateNames =
    [
        """{"type":"heartbeat","type":7}""",
        """{"type":7,"type":"data","dataType":"sensor","data":{"temperature":1,"humidity":1}}""",
        """{"type":"data","dataType":"sensor","data":{"temperature":1,"humidity":1,"temperature":99}}""",
        """{"type":"request","requestId":"r","endpoint":"get_time","data":{"a":1,"a":2}}""",
        """{"type":"heartbeat","t\u0079pe":"auth"}""",
    ];

    /// <summary>
    /// Shrunk failures of the reading-parser property, given to the parser directly: since a name twice is refused
    /// before dispatch, only the parser's own callers can hand it a message whose type is missing or not a string
    /// (before 090f063 it threw on both).
    /// </summary>
    public static readonly TheoryData<string> ReadingParserRegressions =
    [
        """{"type":7,"dataType":"sensor","data":{"temperature":1,"humidity":1}}""",
        """{"type":null,"data":{"temperature":1,"humidity":1}}""",
        """{"type":["data"],"dataType":"sensor","data":{"temperature":1,"humidity":1}}""",
        """{"dataType":"sensor","data":{"temperature":1,"humidity":1}}""",
    ];

    /// <summary>The most wall-clock time one property may take, on top of its iteration count.</summary>
    public const double SecondsPerProperty = 3;

    [Fact]
    public void Any_frame_parses_or_is_refused_and_every_string_of_a_parsed_one_can_be_read()
    {
        var budget = new PropertyBudget(SecondsPerProperty);
        WireGen.Frame.Sample(frame =>
        {
            if (!budget.Take()) return;
            var outcome = WireMessage.TryParse(frame.ToArray(), out var document, out var error);
            using (document)
            {
                if (outcome == WireMessage.Outcome.Parsed) ReadEverything(document!.RootElement);
                else Assert.NotEmpty(error);
            }
        }, iter: 20_000, print: Show);
        output.WriteLine(budget.Report(20_000));
    }

    [Fact]
    public void Any_bytes_at_all_parse_or_are_refused_without_an_exception()
    {
        var budget = new PropertyBudget(SecondsPerProperty);
        Gen.Byte.Array[0, 200].Sample(bytes =>
        {
            if (!budget.Take()) return;
            WireMessage.TryParse(bytes, out var document, out _);
            document?.Dispose();
        }, iter: 20_000);
        output.WriteLine(budget.Report(20_000));
    }

    [Fact]
    public async Task Any_reading_message_is_parsed_into_answers_that_are_never_internal_error()
    {
        await using var gateway = await TestGateway.StartAsync();
        var parser = gateway.Service<ReadingParser>();
        var sessions = new[]
        {
            Session(Roles.Device, "esp-prop", bootId: 3),
            Session(Roles.Technician, null, bootId: null),
            Session(Roles.Viewer, null, bootId: null),
        };
        int parsed = 0, accepted = 0, refused = 0;
        var budget = new PropertyBudget(SecondsPerProperty);
        Gen.Select(WireGen.Reading, Gen.Int[0, sessions.Length - 1]).Sample((text, who) =>
        {
            if (!budget.Take()) return;
            var bytes = Encoding.UTF8.GetBytes(text);
            if (WireMessage.TryParse(bytes, out var document, out _) != WireMessage.Outcome.Parsed) return;
            Interlocked.Increment(ref parsed);
            using (document)
            {
                var request = parser.Parse(document!.RootElement, sessions[who], DateTimeOffset.UtcNow, NoCompletion.Instance);
                foreach (var entry in request.Readings)
                {
                    if (entry.Status == EntryStatus.Refused)
                    {
                        Assert.Contains(entry.Error, new[] { ErrorCodes.ValidationFailed, ErrorCodes.Forbidden });
                        Interlocked.Increment(ref refused);
                    }
                    else
                    {
                        Interlocked.Increment(ref accepted);
                    }
                }
            }
        }, iter: 10_000, print: t => t.Item1);
        output.WriteLine(budget.Report(10_000));
        output.WriteLine($"{parsed} messages parsed: {accepted} readings accepted, {refused} refused");
    }

    [Theory]
    [MemberData(nameof(Regressions))]
    public async Task A_regression_case_is_answered_without_internal_error_on_every_kind_of_connection(string message)
    {
        var logs = new CapturedLogs();
        await using var gateway = await StartAsync(logs);
        await using var peers = await Peers.ConnectAsync(gateway);
        foreach (var peer in peers.All) await peers.SendAndSettleAsync(peer, message);
        peers.AssertHealthy(logs);
    }

    [Theory]
    [MemberData(nameof(DuplicateNames))]
    public async Task A_name_twice_in_one_object_is_answered_invalid_json_on_every_kind_of_connection(string message)
    {
        var logs = new CapturedLogs();
        await using var gateway = await StartAsync(logs);
        await using var peers = await Peers.ConnectAsync(gateway);
        foreach (var peer in peers.All)
        {
            await peer.SendTextAsync(message);
            var error = await peer.ReceiveAsync("error");
            Assert.Equal(ErrorCodes.InvalidJson, error.GetProperty("code").GetString());
            await peers.SendAndSettleAsync(peer, """{"type":"heartbeat"}""");
        }
        peers.AssertHealthy(logs);
        // Refused before dispatch: the device's reading with a second "type" was not stored either.
        Assert.Equal(0, gateway.Service<IReadingStore>().LastReadingId);
    }

    [Theory]
    [MemberData(nameof(ReadingParserRegressions))]
    public async Task The_reading_parser_reads_a_missing_or_non_string_type_as_no_type(string message)
    {
        await using var gateway = await TestGateway.StartAsync();
        var parser = gateway.Service<ReadingParser>();
        using var document = JsonDocument.Parse(message);
        var request = parser.Parse(document.RootElement, Session(Roles.Device, "esp-prop", bootId: 3), DateTimeOffset.UtcNow, NoCompletion.Instance);
        // No type is read as "data" (the dataType decides): one sensor reading, accepted.
        var entry = Assert.Single(request.Readings);
        Assert.NotEqual(EntryStatus.Refused, entry.Status);
    }

    [Fact]
    public void A_property_slower_than_its_time_bound_stops_at_the_bound_with_its_iterations_left_unchecked()
    {
        // 1,000 cases of 20 ms would take 20 s on one thread: the budget ends it after 0.5 s.
        var budget = new PropertyBudget(0.5);
        var started = Stopwatch.GetTimestamp();
        Gen.Int.Sample(_ =>
        {
            if (!budget.Take()) return;
            Thread.Sleep(20);
        }, iter: 1000, threads: 1);
        var elapsed = Stopwatch.GetElapsedTime(started);
        output.WriteLine(budget.Report(1000));
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"took {elapsed}");
        Assert.InRange(budget.Checked, 1, 999);
    }

    [Fact]
    public async Task Any_message_on_any_connection_is_answered_without_internal_error_and_the_connection_stays_open()
    {
        var logs = new CapturedLogs();
        await using var gateway = await StartAsync(logs);
        await using var peers = await Peers.ConnectAsync(gateway);
        var sent = 0;
        var budget = new PropertyBudget(SecondsPerProperty);
        await Gen.Select(WireGen.Message, Gen.OneOf(WireGen.Message, WireGen.Reading), Gen.Int[0, peers.All.Length - 1])
            .SampleAsync(async (message, reading, who) =>
            {
                if (!budget.Take()) return;
                var peer = peers.All[who];
                await peers.SendAndSettleAsync(peer, message);
                await peers.SendAndSettleAsync(peer, reading);
                sent += 2;
            }, iter: 300, threads: 1, print: t => $"{t.Item1}  |  {t.Item2}  (connection {t.Item3})");
        output.WriteLine(budget.Report(300));
        output.WriteLine($"{sent} messages over {peers.All.Length} connections");
        peers.AssertHealthy(logs);
    }

    private static Task<TestGateway> StartAsync(CapturedLogs logs) =>
        TestGateway.StartAsync(null, logs.AddTo, "RateLimit:MessagesPerSecond=100000", "RateLimit:Burst=100000", "Storage:CommitInterval=00:00:00.010");

    private static string Show(byte[] frame) => Encoding.UTF8.GetString(frame);

    /// <summary>Reads every string and property name of a document, as a handler might.</summary>
    private static void ReadEverything(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    Assert.NotNull(p.Name);
                    ReadEverything(p.Value);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray()) ReadEverything(item);
                break;
            case JsonValueKind.String:
                var s = e.GetString()!;
                // What was read can be written back: no lone surrogate survived.
                WireJson.Write(w => w.WriteStringValue(WireJson.Clean(s)));
                break;
        }
    }

    private static ClientSession Session(string role, string? deviceId, long? bootId) =>
        new(WebSocket.CreateFromStream(Stream.Null, new WebSocketCreationOptions { IsServer = true }), "c_prop_" + role, null, 16, TimeSpan.FromSeconds(30), DateTimeOffset.UtcNow)
        {
            Role = role,
            DeviceId = deviceId,
            Principal = deviceId is null ? role : "device:" + deviceId,
            BootId = bootId,
        };

    /// <summary>
    /// Bounds a property in time as well as in iterations: CsCheck's own <c>time:</c> runs for exactly that long and
    /// ignores <c>iter:</c>, so instead the property keeps its iteration count and each case first asks
    /// <see cref="Take"/>, which says no once the time is spent. The cases left over are then generated but not
    /// checked (microseconds each), and a shrink under way stops with the smallest failure found so far.
    /// </summary>
    internal sealed class PropertyBudget(double seconds)
    {
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly long _end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        private int _checked;
        private int _skipped;

        /// <summary>True (and counted) while time is left for one more case.</summary>
        public bool Take()
        {
            if (Stopwatch.GetTimestamp() >= _end)
            {
                Interlocked.Increment(ref _skipped);
                return false;
            }
            Interlocked.Increment(ref _checked);
            return true;
        }

        public int Checked => Volatile.Read(ref _checked);

        public string Report(int iterations) =>
            $"{Checked} of {iterations} cases checked in {Stopwatch.GetElapsedTime(_start).TotalSeconds:0.0} s"
            + (Volatile.Read(ref _skipped) > 0 ? $" (time bound of {seconds} s reached; {_skipped} not checked)" : "");
    }

    private sealed class NoCompletion : IStoreCompletion
    {
        public static readonly NoCompletion Instance = new();

        public void Completed(StoreRequest request)
        {
        }
    }

    /// <summary>One connection of each kind: not yet authenticated, a device, a viewer and a technician.</summary>
    private sealed class Peers : IAsyncDisposable
    {
        private int _marker;

        private Peers(TestClient[] all) => All = all;

        public TestClient[] All { get; }

        public static async Task<Peers> ConnectAsync(TestGateway gateway)
        {
            var anonymous = await gateway.ConnectAsync();
            await anonymous.ReceiveAsync("welcome");
            var device = await gateway.ConnectDeviceAsync("esp-prop", gateway.AddDevice("esp-prop"), bootId: 3);
            var viewer = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
            var technician = await gateway.ConnectWithKeyAsync(gateway.AddKey("technician"));
            return new Peers([anonymous, device, viewer, technician]);
        }

        /// <summary>Sends a message, then a heartbeat, and waits for the heartbeat's answer: the message was handled by then.</summary>
        public async Task SendAndSettleAsync(TestClient peer, string message)
        {
            // An auth before auth closes with 4401, as it should: the connection of that kind has to stay open here.
            if (peer == All[0] && IsAuth(message)) return;
            await peer.SendTextAsync(message);
            var marker = "settle-" + Interlocked.Increment(ref _marker);
            await peer.SendTextAsync("{\"type\":\"heartbeat\",\"timestamp\":\"" + marker + "\"}");
            await peer.ReceiveAsync("heartbeat_response", TimeSpan.FromSeconds(15), m => m.TryGetProperty("timestamp", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == marker);
        }

        private static bool IsAuth(string message)
        {
            if (WireMessage.TryParse(Encoding.UTF8.GetBytes(message), out var document, out _) != WireMessage.Outcome.Parsed) return false;
            using (document)
            {
                var root = document!.RootElement;
                return root.ValueKind == JsonValueKind.Object && root.TryGetProperty(Fields.Type, out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == MessageTypes.Auth;
            }
        }

        public void AssertHealthy(CapturedLogs logs)
        {
            foreach (var peer in All)
            {
                Assert.Equal(WebSocketState.Open, peer.State);
                string[] raw;
                lock (peer.RawMessages) raw = [.. peer.RawMessages];
                Assert.DoesNotContain(raw, m => m.Contains(ErrorCodes.InternalError, StringComparison.Ordinal));
            }
            Assert.Empty(logs.Errors);
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var peer in All) await peer.DisposeAsync();
        }
    }
}
