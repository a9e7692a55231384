using System.Text;
using IotWs.Firmware.Core;
using IotWs.Firmware.Tests.Fakes;

namespace IotWs.Firmware.Tests;

/// <summary>
/// The ESP32 transport's connect runs on a thread of its own because ClientWebSocket.Connect cannot be
/// cut short. These tests run that bookkeeping with real threads that hang like a gateway that accepts
/// TCP and never answers the upgrade, under the real core.
/// </summary>
public class BoundedConnectTests
{
    /// <summary>A transport built the way the ESP32 adapter is: one thread per connect, results through ConnectAttempts.</summary>
    private sealed class ThreadedTransport(ConnectAttempts attempts) : ITransport
    {
        public ManualResetEventSlim GatewayAnswers { get; } = new(false);
        public int Started;
        public int Discarded;
        public int Reported;
        public List<Thread> Threads { get; } = [];

        public bool Connect(string url, ITransportListener listener)
        {
            var ticket = attempts.Begin();
            if (ticket == 0) return false;
            Interlocked.Increment(ref Started);
            var thread = new Thread(() =>
            {
                GatewayAnswers.Wait(TimeSpan.FromSeconds(30)); // the blocking ClientWebSocket.Connect
                if (!attempts.Finish(ticket))
                {
                    Interlocked.Increment(ref Discarded);
                    return;
                }
                Interlocked.Increment(ref Reported);
                listener.OnOpened();
            }) { IsBackground = true };
            lock (Threads) Threads.Add(thread);
            thread.Start();
            return true;
        }

        public bool Send(string text) => true;

        public void Close(int closeCode) => attempts.Abandon();
    }

    /// <summary>A started core whose connects hang on threads until the transport's GatewayAnswers is set.</summary>
    private static (ConnectAttempts Attempts, ThreadedTransport Transport, FakeClock Clock, DeviceCore Core) StartHanging(DeviceSettings settings, int maxInFlight)
    {
        var attempts = new ConnectAttempts(maxInFlight);
        var transport = new ThreadedTransport(attempts);
        var clock = new FakeClock();
        var core = new DeviceCore(settings, new DevicePorts
        {
            Transport = transport, Sensor = new FakeSensor(), Clock = clock, Store = new Host.InMemoryStore(),
            Device = new FakeDevice(), Log = new ListLog(), Json = new Host.SystemTextJsonCodec(), Random = new HighestRandom(),
        });
        core.Start();
        return (attempts, transport, clock, core);
    }

    private static void TickFor(FakeClock clock, DeviceCore core, int ticks)
    {
        for (var i = 0; i < ticks; i++)
        {
            clock.Advance(50);
            core.Tick();
        }
    }

    [Fact]
    public void A_hanging_connect_is_abandoned_by_the_core_timeout_and_its_late_result_is_discarded()
    {
        var (attempts, transport, clock, core) = StartHanging(DeviceRig.NewSettings(), 2);

        // The loop keeps ticking (Tick returns at once) while connects hang; readings keep being taken.
        TickFor(clock, core, 2400);

        Assert.Equal(2, transport.Started);          // two hanging threads, no more
        Assert.Equal(2, attempts.InFlight);
        Assert.True(attempts.Refused >= 1, "a third connect should have been refused while two hang");
        Assert.True(core.ConnectAttempts > 2);
        Assert.True(core.ReadingsTaken >= 50);
        Assert.NotEqual(ConnectionState.Running, core.State);

        // The gateway finally answers: both late results are thrown away, none reaches the core.
        transport.GatewayAnswers.Set();
        lock (transport.Threads) foreach (var t in transport.Threads) Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, transport.Discarded);
        Assert.Equal(0, transport.Reported);
        Assert.Equal(0, attempts.InFlight);

        // With the threads gone the next attempt starts again.
        for (var i = 0; i < 2400 && transport.Started == 2; i++)
        {
            clock.Advance(50);
            core.Tick();
        }
        Assert.Equal(3, transport.Started);
    }

    [Fact]
    public void Over_tls_a_single_connect_thread_exists_while_a_gateway_hangs()
    {
        // Settings as the board reads them from config.json: wss:// with the gateway's certificate.
        var config = new Host.SystemTextJsonCodec().Parse(System.Text.Json.JsonSerializer.Serialize(new
        {
            gatewayUrls = new[] { "wss://pi-a.test:5443/ws", "wss://pi-b.test:5443/ws" }, deviceId = "d", token = "t", tlsCertificate = TestCertificate.Pem(),
        }))!;
        var settings = DeviceSettings.FromConfig(config, out var error);
        Assert.True(error is null, error);
        var (attempts, transport, clock, core) = StartHanging(settings, settings.MaxConnectsInFlight);
        TickFor(clock, core, 2400);

        // One TLS connection's buffers at most: the hanging one. Later connects are refused and back off.
        Assert.Equal(1, transport.Started);
        Assert.Equal(1, attempts.InFlight);
        Assert.True(attempts.Refused >= 1, "a second connect should have been refused while the first hangs");
        Assert.True(core.ReadingsTaken >= 50);

        transport.GatewayAnswers.Set();
        lock (transport.Threads) foreach (var t in transport.Threads) Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, attempts.InFlight);
        for (var i = 0; i < 2400 && transport.Started == 1; i++)
        {
            clock.Advance(50);
            core.Tick();
        }
        Assert.Equal(2, transport.Started);
    }

    [Fact]
    public void An_attempt_that_finishes_while_current_is_reported_and_frees_its_slot()
    {
        var attempts = new ConnectAttempts(1);
        var ticket = attempts.Begin();

        Assert.Equal(0, attempts.Begin());
        Assert.True(attempts.Finish(ticket));
        Assert.Equal(0, attempts.InFlight);
        Assert.NotEqual(0, attempts.Begin());
    }

    [Fact]
    public void A_newer_attempt_makes_the_older_one_stale()
    {
        var attempts = new ConnectAttempts(2);
        var first = attempts.Begin();
        var second = attempts.Begin();

        Assert.False(attempts.Finish(first));
        Assert.True(attempts.Finish(second));
        Assert.Equal(1, attempts.Abandoned);
    }
}

public class MessageAssemblerTests
{
    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void A_whole_text_frame_is_handed_on_as_is()
    {
        var assembler = new MessageAssembler(4096, new ListLog());

        Assert.Equal("""{"type":"welcome"}""", assembler.Accept(FrameKind.Whole, true, Utf8("""{"type":"welcome"}"""), 18));
    }

    [Fact]
    public void Fragments_are_reassembled_into_one_message_even_across_a_split_utf8_character()
    {
        var assembler = new MessageAssembler(4096, new ListLog());
        var bytes = Utf8("""{"type":"publish","data":"25 °C ✓"}""");
        var cut1 = Array.IndexOf(bytes, (byte)0xB0); // inside "°"
        var cut2 = cut1 + 4; // inside "✓"

        Assert.Null(assembler.Accept(FrameKind.First, true, bytes[..cut1], cut1));
        Assert.Null(assembler.Accept(FrameKind.Middle, false, bytes[cut1..cut2], cut2 - cut1));
        var text = assembler.Accept(FrameKind.Last, false, bytes[cut2..], bytes.Length - cut2);

        Assert.Equal("""{"type":"publish","data":"25 °C ✓"}""", text);
        Assert.Equal(1, assembler.Reassembled);
        Assert.Equal(0, assembler.Dropped);
    }

    [Fact]
    public void A_fragmented_message_over_the_limit_is_dropped_counted_and_logged_and_the_next_one_gets_through()
    {
        var log = new ListLog();
        var assembler = new MessageAssembler(64, log);
        var chunk = Utf8(new string('x', 40));

        Assert.Null(assembler.Accept(FrameKind.First, true, chunk, 40));
        Assert.Null(assembler.Accept(FrameKind.Middle, false, chunk, 40));
        Assert.Null(assembler.Accept(FrameKind.Last, false, chunk, 40));

        Assert.Equal(1, assembler.Dropped);
        Assert.Contains(log.Lines, l => l.Contains("120 bytes is over the limit of 64", StringComparison.Ordinal));
        Assert.Equal("ok", assembler.Accept(FrameKind.Whole, true, Utf8("ok"), 2));
        Assert.Equal("ab", Complete(assembler, "a", "b"));
    }

    [Fact]
    public void A_fragment_without_its_start_is_dropped_and_logged()
    {
        var log = new ListLog();
        var assembler = new MessageAssembler(4096, log);

        Assert.Null(assembler.Accept(FrameKind.Last, false, Utf8("tail"), 4));

        Assert.Equal(1, assembler.Dropped);
        Assert.Contains(log.Lines, l => l.StartsWith("warn: ws: fragment without its first frame", StringComparison.Ordinal));
    }

    [Fact]
    public void An_unfinished_message_interrupted_by_a_new_one_is_dropped_and_the_new_one_is_kept()
    {
        var assembler = new MessageAssembler(4096, new ListLog());

        assembler.Accept(FrameKind.First, true, Utf8("lost"), 4);
        Assert.Equal("kept", Complete(assembler, "ke", "pt"));
        Assert.Equal(1, assembler.Dropped);
    }

    [Fact]
    public void Binary_messages_are_ignored_without_counting_as_drops()
    {
        var assembler = new MessageAssembler(4096, new ListLog());

        Assert.Null(assembler.Accept(FrameKind.Whole, false, [1, 2, 3], 3));
        Assert.Null(assembler.Accept(FrameKind.First, false, [1], 1));
        Assert.Null(assembler.Accept(FrameKind.Last, false, [2], 1));
        Assert.Equal(0, assembler.Dropped);
    }

    private static string? Complete(MessageAssembler assembler, string first, string last)
    {
        assembler.Accept(FrameKind.First, true, Utf8(first), Utf8(first).Length);
        return assembler.Accept(FrameKind.Last, false, Utf8(last), Utf8(last).Length);
    }
}
