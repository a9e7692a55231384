using System.Collections;
using IotWs.Firmware.Core;
using IotWs.Firmware.Tests.Fakes;
using IotWs.Protocol;

namespace IotWs.Firmware.Tests;

public class ReadingDeliveryTests
{
    [Fact]
    public void A_reading_is_sent_with_seq_and_boot_id_and_leaves_the_buffer_when_acked()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Sensor.Temperature = 23.44;
        rig.Sensor.Humidity = 51.06;
        rig.Advance(2000);

        var data = Assert.Single(rig.Sent(MessageTypes.Data));
        Assert.Equal(ProtocolInfo.DataTypeSensor, data[Fields.DataType]);
        Assert.Equal(1, data[Fields.Seq]);
        Assert.Equal(1, data[Fields.BootId]);
        var reading = (Hashtable)data[Fields.Data]!;
        Assert.Equal(23.4, reading[Fields.Temperature]);
        Assert.Equal(51.1, reading[Fields.Humidity]);
        Assert.Equal("esp32-kitchen_DHT22", reading[Fields.SensorId]);
        Assert.Equal(1, rig.Core.Buffered);

        rig.Transport.Deliver(DeviceRig.Ack(1, 77));
        rig.Tick();

        Assert.Equal(0, rig.Core.Buffered);
        Assert.Equal(1, rig.Core.ReadingsAcked);
    }

    [Fact]
    public void A_failed_sensor_read_sends_nothing_and_consumes_no_seq()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Sensor.Failing = true;
        rig.Advance(6000);
        Assert.Empty(rig.Sent(MessageTypes.Data));
        Assert.Equal(0, rig.Core.LastSeq);
        Assert.Equal(3, rig.Core.SensorFailures);

        rig.Sensor.Failing = false;
        rig.Advance(2000);
        var data = Assert.Single(rig.Sent(MessageTypes.Data));
        Assert.Equal(1, data[Fields.Seq]);
    }

    [Theory]
    [InlineData(80.1, 50)]
    [InlineData(-40.5, 50)]
    [InlineData(20, 100.5)]
    [InlineData(20, -1)]
    [InlineData(double.NaN, 50)]
    [InlineData(20, double.PositiveInfinity)]
    public void An_implausible_reading_is_never_sent_and_counts_as_a_sensor_error(double t, double h)
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Sensor.Temperature = t;
        rig.Sensor.Humidity = h;
        rig.Advance(2000);

        Assert.Empty(rig.Sent(MessageTypes.Data));
        Assert.Equal(0, rig.Core.LastSeq);
        Assert.Equal(1, rig.Core.SensorFailures);
    }

    [Fact]
    public void A_lost_ack_is_resent_after_the_timeout_and_the_duplicate_ack_removes_it_once()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Advance(2000);
        rig.Sensor.Failing = true;
        Assert.Single(rig.Sent(MessageTypes.Data));

        rig.Advance(rig.Settings.AckTimeoutMs + 100);
        var resent = rig.Sent(MessageTypes.Data);
        Assert.Equal([1L], resent.SelectMany(DeviceRig.Seqs));
        Assert.Equal(1, rig.Core.ReadingsResent);

        rig.Transport.Deliver(DeviceRig.Ack(1, 500, duplicate: true));
        rig.Tick();
        Assert.Equal(0, rig.Core.Buffered);
        Assert.Equal(1, rig.Core.ReadingsAcked);

        // The first answer turning up late changes nothing.
        rig.Transport.Deliver(DeviceRig.Ack(1, 500));
        rig.Tick();
        Assert.Equal(1, rig.Core.ReadingsAcked);
    }

    [Fact]
    public void A_full_buffer_drops_the_oldest_reading_and_counts_it()
    {
        var rig = new DeviceRig(s => s.BufferCapacity = 5);
        rig.Transport.AcceptConnects = false;
        rig.Advance(2000 * 8);

        Assert.Equal(5, rig.Core.Buffered);
        Assert.Equal(3, rig.Core.ReadingsDropped);

        rig.ReconnectWithBacklog();

        var seqs = rig.Sent(MessageTypes.Data).SelectMany(DeviceRig.Seqs);
        Assert.Equal([4L, 5, 6, 7, 8], seqs);
    }

    [Fact]
    public void A_backlog_is_replayed_in_order_in_batches_with_bounded_readings_in_flight()
    {
        var rig = new DeviceRig(s =>
        {
            s.BatchSize = 20;
            s.MaxInFlight = 40;
        });
        rig.Transport.AcceptConnects = false;
        rig.Advance(2000 * 100);
        Assert.Equal(100, rig.Core.Buffered);

        rig.ReconnectWithBacklog();

        var allSeqs = new List<long>();
        var first = rig.Sent(MessageTypes.Data);
        Assert.Equal(2, first.Count);
        Assert.All(first, m => Assert.Equal(20, ((ArrayList)m[Fields.Batch]!).Count));
        Assert.Equal(40, rig.Core.InFlight);
        foreach (var m in first) allSeqs.AddRange(DeviceRig.Seqs(m));

        // Each acknowledged batch lets the next one go.
        while (rig.Core.Buffered > 0)
        {
            rig.Transport.Deliver(DeviceRig.BatchAck(allSeqs.Where(s => s > rig.Core.ReadingsAcked).Take(20).ToList()));
            rig.Tick();
            foreach (var m in rig.Sent(MessageTypes.Data)) allSeqs.AddRange(DeviceRig.Seqs(m));
            Assert.True(rig.Core.InFlight <= 40);
        }

        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), allSeqs.Take(100));
        Assert.Equal(100, rig.Core.ReadingsAcked);
    }

    [Fact]
    public void Batched_readings_carry_their_own_seq_boot_id_and_timestamp()
    {
        var rig = new DeviceRig();
        rig.Transport.AcceptConnects = false;
        rig.Advance(2000 * 3);
        rig.ReconnectWithBacklog();

        var batch = (ArrayList)Assert.Single(rig.Sent(MessageTypes.Data))[Fields.Batch]!;
        var item = (Hashtable)batch[0]!;
        Assert.Equal(1, item[Fields.Seq]);
        Assert.Equal(1, item[Fields.BootId]);
        Assert.Equal("2026-11-21T12:00:07.000Z", item[Fields.Timestamp]);
        Assert.Equal(21.5, ((Hashtable)item[Fields.Data]!)[Fields.Temperature]);
    }

    [Fact]
    public void Readings_in_flight_on_a_dropped_link_are_sent_again_after_reconnecting()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Advance(4000);
        Assert.Equal([1L, 2], rig.Sent(MessageTypes.Data).SelectMany(DeviceRig.Seqs));

        rig.Transport.ServerClose(DeviceCore.AbnormalClosure);
        rig.Tick();
        rig.ReconnectWithBacklog();

        Assert.Equal([1L, 2], rig.Sent(MessageTypes.Data).SelectMany(DeviceRig.Seqs));
    }

    [Fact]
    public void Validation_failed_without_seq_drops_only_the_reading_it_answers()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Advance(4000);
        Assert.Equal(2, rig.Sent(MessageTypes.Data).Count);

        rig.Transport.Deliver("""{"type":"data_response","success":false,"error":"validation_failed","message":"humidity 140 is outside 0..100"}""");
        rig.Tick();

        Assert.Equal(1, rig.Core.ReadingsRejected);
        Assert.Equal(1, rig.Core.Buffered);
        rig.Transport.Deliver(DeviceRig.Ack(2, 9));
        rig.Tick();
        Assert.Equal(0, rig.Core.Buffered);
        Assert.Equal(1, rig.Core.ReadingsAcked);
    }

    [Fact]
    public void Validation_failed_in_batch_results_drops_only_that_reading()
    {
        var rig = new DeviceRig();
        rig.Transport.AcceptConnects = false;
        rig.Advance(2000 * 3);
        rig.ReconnectWithBacklog();
        rig.Transport.TakeSent();

        rig.Transport.Deliver("""{"type":"data_response","success":true,"results":[{"seq":1,"insertId":10},{"seq":2,"error":"validation_failed"},{"seq":3,"duplicate":true,"insertId":8}]}""");
        rig.Tick();

        Assert.Equal(0, rig.Core.Buffered);
        Assert.Equal(2, rig.Core.ReadingsAcked);
        Assert.Equal(1, rig.Core.ReadingsRejected);
    }

    [Fact]
    public void A_batch_refused_as_a_whole_is_retried_one_reading_at_a_time()
    {
        var rig = new DeviceRig();
        rig.Transport.AcceptConnects = false;
        rig.Advance(2000 * 3);
        rig.ReconnectWithBacklog();
        Assert.Single(rig.Sent(MessageTypes.Data));

        rig.Transport.Deliver("""{"type":"data_response","success":false,"error":"validation_failed","message":"batch item 2: humidity missing"}""");
        rig.Tick();

        var singles = rig.Sent(MessageTypes.Data);
        Assert.Equal(3, singles.Count);
        Assert.All(singles, m => Assert.Null(m[Fields.Batch]));
        Assert.Equal([1L, 2, 3], singles.SelectMany(DeviceRig.Seqs));
    }

    [Fact]
    public void Timestamps_are_iso_utc_when_the_clock_is_synced_and_uptime_numbers_when_not()
    {
        var rig = new DeviceRig();
        rig.Clock.Synced = false;
        rig.ConnectAndAuthenticate();
        rig.Advance(2000);
        var unsynced = Assert.Single(rig.Sent(MessageTypes.Data));
        Assert.True(unsynced[Fields.Timestamp] is int or long);
        Assert.Equal(2000L, Convert.ToInt64(unsynced[Fields.Timestamp], System.Globalization.CultureInfo.InvariantCulture));

        rig.Clock.Synced = true;
        rig.Advance(2000);
        var synced = Assert.Single(rig.Sent(MessageTypes.Data));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", (string)synced[Fields.Timestamp]!);
    }

    [Fact]
    public void A_full_send_queue_leaves_readings_buffered_for_later()
    {
        var rig = new DeviceRig();
        rig.ConnectAndAuthenticate();
        rig.Transport.AcceptSends = false;
        rig.Advance(4000);
        Assert.Equal(0, rig.Core.InFlight);

        rig.Transport.AcceptSends = true;
        rig.Tick();
        Assert.Equal([1L, 2], rig.Sent(MessageTypes.Data).SelectMany(DeviceRig.Seqs));
    }
}
