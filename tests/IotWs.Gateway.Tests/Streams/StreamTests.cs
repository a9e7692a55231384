using System.Text.Json;
using IotWs.Gateway.Tests.Infrastructure;
using IotWs.Gateway.Tests.PubSub;

namespace IotWs.Gateway.Tests.Streams;

public sealed class StreamTests
{
    [Fact]
    public async Task A_file_upload_sent_in_order_like_the_seed_uploader_is_saved_byte_for_byte_and_relayed_to_subscribers()
    {
        await using var gateway = await TestGateway.StartAsync();
        var key = gateway.AddKey("technician");
        await using var uploader = await gateway.ConnectWithKeyAsync(key);
        await using var watcher = await gateway.ConnectWithKeyAsync(key);
        await PubSubTests.Subscribe(watcher, "streams/+");

        var content = new byte[20_000];
        new Random(42).NextBytes(content);
        const string streamId = "upload_1763726400_report.bin";
        // The seed's Python FileUploadClient: start, chunks of 8192 bytes from sequence 0, end, without waiting in between.
        await uploader.SendAsync(new { type = "stream_start", streamId, streamType = "file_upload", metadata = new { filename = "report.bin", size = content.Length, mime_type = "application/octet-stream" } });
        var chunks = content.Chunk(8192).ToArray();
        for (var i = 0; i < chunks.Length; i++)
        {
            await uploader.SendAsync(new { type = "stream_data", streamId, data = Convert.ToBase64String(chunks[i]), sequenceNumber = i });
        }
        await uploader.SendAsync(new { type = "stream_end", streamId });

        Assert.Equal(streamId, (await uploader.ReceiveAsync("stream_started")).GetProperty("streamId").GetString());
        var ended = await uploader.ReceiveAsync("stream_ended");
        Assert.Equal(streamId, ended.GetProperty("streamId").GetString());
        Assert.Equal(content.Length, ended.GetProperty("bytes").GetInt64());
        Assert.Equal(3, ended.GetProperty("chunks").GetInt32());
        var path = ended.GetProperty("path").GetString()!;
        Assert.StartsWith("uploads/", path);
        Assert.EndsWith("_report.bin", path);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(gateway.DataDir, path)));
        Assert.Empty(Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads"), "*.part"));
        Assert.DoesNotContain(uploader.RawMessages, m => m.Contains("\"error\"", StringComparison.Ordinal));

        var relayed = new List<JsonElement>();
        for (var i = 0; i < 5; i++) relayed.Add((await watcher.ReceiveAsync("publish")).GetProperty("data"));
        Assert.Equal(["start", "data", "data", "data", "end"], relayed.Select(r => r.GetProperty("event").GetString()));
        Assert.All(relayed, r => Assert.Equal(streamId, r.GetProperty("streamId").GetString()));
        Assert.Equal("file_upload", relayed[0].GetProperty("streamType").GetString());
        Assert.Equal([0, 1, 2], relayed.Skip(1).Take(3).Select(r => r.GetProperty("sequenceNumber").GetInt32()));
        Assert.Equal(content, relayed.Skip(1).Take(3).SelectMany(r => Convert.FromBase64String(r.GetProperty("data").GetString()!)));
        Assert.Equal(content.Length, relayed[4].GetProperty("bytes").GetInt64());
    }

    [Fact]
    public async Task A_chunk_out_of_order_is_an_error_naming_the_stream_and_expected_sequence_and_the_partial_file_is_deleted()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var uploader = await gateway.ConnectWithKeyAsync(gateway.AddKey("technician"));
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "streams/#");

        await uploader.SendAsync(new { type = "stream_start", streamId = "up-1", streamType = "file_upload", metadata = new { filename = "a.txt" } });
        await uploader.ReceiveAsync("stream_started");
        await uploader.SendAsync(new { type = "stream_data", streamId = "up-1", data = Convert.ToBase64String("hello "u8.ToArray()), sequenceNumber = 0 });
        await uploader.SendAsync(new { type = "stream_data", streamId = "up-1", data = Convert.ToBase64String("world"u8.ToArray()), sequenceNumber = 2 });
        var error = await uploader.ReceiveAsync("error");
        Assert.Equal("validation_failed", error.GetProperty("code").GetString());
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains("up-1", message);
        Assert.Contains("expected sequenceNumber 1", message);
        Assert.Contains("got 2", message);
        Assert.Empty(Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads")));

        // Discarded: further chunks and the end are refused, and subscribers were told.
        await uploader.SendAsync(new { type = "stream_end", streamId = "up-1" });
        Assert.Contains("No open stream 'up-1'", (await uploader.ReceiveAsync("error")).GetProperty("message").GetString());
        await watcher.ReceiveAsync("publish", where: m => m.GetProperty("data").GetProperty("event").GetString() == "aborted");

        // A stream must start at 0 (the seed uploader does).
        await uploader.SendAsync(new { type = "stream_start", streamId = "up-2", streamType = "file_upload" });
        await uploader.SendAsync(new { type = "stream_data", streamId = "up-2", data = "aGk=", sequenceNumber = 1 });
        Assert.Contains("expected sequenceNumber 0, got 1", (await uploader.ReceiveAsync("error")).GetProperty("message").GetString());
        Assert.Empty(Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads")));
    }

    [Fact]
    public async Task Oversized_chunks_streams_and_declared_sizes_are_payload_too_large_and_discarded()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Streams:MaxChunkBytes=4096", "Streams:MaxStreamBytes=10000");
        await using var uploader = await gateway.ConnectWithKeyAsync(gateway.AddKey("technician"));

        await uploader.SendAsync(new { type = "stream_start", streamId = "big-chunk", streamType = "file_upload" });
        await uploader.SendAsync(new { type = "stream_data", streamId = "big-chunk", data = Convert.ToBase64String(new byte[5000]), sequenceNumber = 0 });
        var chunkError = await uploader.ReceiveAsync("error");
        Assert.Equal("payload_too_large", chunkError.GetProperty("code").GetString());
        Assert.Contains("big-chunk", chunkError.GetProperty("message").GetString());

        await uploader.SendAsync(new { type = "stream_start", streamId = "big-total", streamType = "file_upload" });
        for (var i = 0; i < 3; i++)
        {
            await uploader.SendAsync(new { type = "stream_data", streamId = "big-total", data = Convert.ToBase64String(new byte[4000]), sequenceNumber = i });
        }
        var totalError = await uploader.ReceiveAsync("error");
        Assert.Equal("payload_too_large", totalError.GetProperty("code").GetString());
        Assert.Contains("big-total", totalError.GetProperty("message").GetString());
        Assert.Contains("10000", totalError.GetProperty("message").GetString());

        await uploader.SendAsync(new { type = "stream_start", streamId = "big-declared", streamType = "file_upload", metadata = new { filename = "huge.iso", size = 20_000_000 } });
        Assert.Equal("payload_too_large", (await uploader.ReceiveAsync("error")).GetProperty("code").GetString());
        // Replies come in message order: had the stream started, stream_started would be here before the error.
        Assert.DoesNotContain(uploader.RawMessages, m => m.Contains("stream_started", StringComparison.Ordinal) && m.Contains("big-declared", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads")));

        // A file that ends short of its declared size is not kept either.
        await uploader.SendAsync(new { type = "stream_start", streamId = "short", streamType = "file_upload", metadata = new { filename = "s.bin", size = 10 } });
        await uploader.SendAsync(new { type = "stream_data", streamId = "short", data = Convert.ToBase64String(new byte[4]), sequenceNumber = 0 });
        await uploader.SendAsync(new { type = "stream_end", streamId = "short" });
        Assert.Contains("metadata.size was 10", (await uploader.ReceiveAsync("error")).GetProperty("message").GetString());
        Assert.Empty(Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads")));
    }

    [Fact]
    public async Task A_file_name_from_metadata_never_leaves_the_uploads_directory()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var uploader = await gateway.ConnectWithKeyAsync(gateway.AddKey("technician"));
        var names = new[] { "../../etc/passwd", "..\\..\\boot.ini", "/abs/path/x.sh", "..", "na me;rm -rf.txt" };
        for (var i = 0; i < names.Length; i++)
        {
            var id = "evil-" + i;
            await uploader.SendAsync(new { type = "stream_start", streamId = id, streamType = "file_upload", metadata = new { filename = names[i] } });
            await uploader.SendAsync(new { type = "stream_data", streamId = id, data = "aGk=", sequenceNumber = 0 });
            await uploader.SendAsync(new { type = "stream_end", streamId = id });
            var ended = await uploader.ReceiveAsync("stream_ended");
            var path = ended.GetProperty("path").GetString()!;
            Assert.Matches(@"^uploads/[A-Za-z0-9._-]+$", path);
            Assert.DoesNotContain("..", path.Replace("uploads/", ""));
            Assert.Equal("hi", await File.ReadAllTextAsync(Path.Combine(gateway.DataDir, path)));
        }
        Assert.Equal(names.Length, Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads")).Length);
        Assert.False(File.Exists(Path.Combine(gateway.DataDir, "..", "etc", "passwd")));

        await uploader.SendAsync(new { type = "stream_start", streamId = "bad#id", streamType = "data" });
        Assert.Equal("invalid_message", (await uploader.ReceiveAsync("error")).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Data_streams_relay_json_chunks_and_a_connection_may_hold_only_so_many_open_streams_which_go_when_it_closes()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Streams:MaxConcurrentPerConnection=2");
        var token = gateway.AddDevice("esp-stream");
        var key = gateway.AddKey("viewer");
        await using var watcher = await gateway.ConnectWithKeyAsync(key);
        await PubSubTests.Subscribe(watcher, "streams/esp-stream-live");
        var device = await gateway.ConnectDeviceAsync("esp-stream", token);

        await device.SendAsync(new { type = "stream_start", streamId = "esp-stream-live", streamType = "sensor_data" });
        await device.ReceiveAsync("stream_started");
        await device.SendAsync(new { type = "stream_data", streamId = "esp-stream-live", data = new { t = 21.5, h = 40 }, sequenceNumber = 0 });
        var chunk = await watcher.ReceiveAsync("publish", where: m => m.GetProperty("data").GetProperty("event").GetString() == "data");
        Assert.Equal(21.5, chunk.GetProperty("data").GetProperty("data").GetProperty("t").GetDouble());

        await device.SendAsync(new { type = "stream_start", streamId = "upload-a", streamType = "file_upload", metadata = new { filename = "a.bin" } });
        await device.ReceiveAsync("stream_started", where: m => m.GetProperty("streamId").GetString() == "upload-a");
        await device.SendAsync(new { type = "stream_data", streamId = "upload-a", data = "aGk=", sequenceNumber = 0 });
        await device.SendAsync(new { type = "stream_start", streamId = "third", streamType = "data" });
        Assert.Equal("rate_limited", (await device.ReceiveAsync("error")).GetProperty("code").GetString());
        Assert.Single(Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads"), "*.part"));

        await device.SendAsync(new { type = "stream_end", streamId = "esp-stream-live" });
        var ended = await device.ReceiveAsync("stream_ended");
        Assert.False(ended.TryGetProperty("path", out _));
        Assert.Equal(1, ended.GetProperty("chunks").GetInt32());

        // The connection goes away mid-upload: its partial file goes with it.
        await device.CloseAsync();
        await device.DisposeAsync();
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads")).Length > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Empty(Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads")));
    }

    [Fact]
    public async Task A_viewer_may_not_start_feed_or_end_a_stream_and_nothing_is_relayed_or_written()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var viewer = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await using var watcher = await gateway.ConnectWithKeyAsync(gateway.AddKey("viewer"));
        await PubSubTests.Subscribe(watcher, "streams/#");

        await viewer.SendAsync(new { type = "stream_start", streamId = "v-up", streamType = "file_upload", metadata = new { filename = "v.bin" } });
        await viewer.SendAsync(new { type = "stream_start", streamId = "v-data", streamType = "data" });
        await viewer.SendAsync(new { type = "stream_data", streamId = "v-up", data = "aGk=", sequenceNumber = 0 });
        await viewer.SendAsync(new { type = "stream_end", streamId = "v-up" });
        for (var i = 0; i < 4; i++)
        {
            var error = await viewer.ReceiveAsync("error");
            Assert.Equal("forbidden", error.GetProperty("code").GetString());
            Assert.Contains("viewer", error.GetProperty("message").GetString());
        }
        Assert.True(await viewer.NothingOfTypeAsync("stream_started", TimeSpan.FromMilliseconds(200)));
        Assert.True(await watcher.NothingOfTypeAsync("publish", TimeSpan.FromMilliseconds(200)));
        Assert.False(Directory.Exists(Path.Combine(gateway.DataDir, "uploads")) && Directory.EnumerateFileSystemEntries(Path.Combine(gateway.DataDir, "uploads")).Any());
    }

    [Fact]
    public async Task Uploads_past_the_total_quota_are_refused_with_payload_too_large_and_deleting_files_frees_the_space()
    {
        await using var gateway = await TestGateway.StartAsync(null, "Streams:MaxUploadBytes=10000");
        await using var uploader = await gateway.ConnectWithKeyAsync(gateway.AddKey("technician"));
        var chunk = Convert.ToBase64String(new byte[4000]);

        async Task<JsonElement> Upload(string id, int chunks)
        {
            await uploader.SendAsync(new { type = "stream_start", streamId = id, streamType = "file_upload", metadata = new { filename = id + ".bin" } });
            for (var i = 0; i < chunks; i++) await uploader.SendAsync(new { type = "stream_data", streamId = id, data = chunk, sequenceNumber = i });
            await uploader.SendAsync(new { type = "stream_end", streamId = id });
            return await uploader.ReceiveAsync("stream_ended", TimeSpan.FromSeconds(3), m => m.GetProperty("streamId").GetString() == id)
                ;
        }

        // 8,000 of 10,000 bytes: fits.
        var first = await Upload("one", 2);
        Assert.Equal(8000, first.GetProperty("bytes").GetInt64());

        // The third chunk of 4,000 would pass the quota: the stream is discarded with a clear code and message.
        await uploader.SendAsync(new { type = "stream_start", streamId = "two", streamType = "file_upload", metadata = new { filename = "two.bin" } });
        await uploader.ReceiveAsync("stream_started", where: m => m.GetProperty("streamId").GetString() == "two");
        await uploader.SendAsync(new { type = "stream_data", streamId = "two", data = chunk, sequenceNumber = 0 });
        var refused = await uploader.ReceiveAsync("error");
        Assert.Equal("payload_too_large", refused.GetProperty("code").GetString());
        Assert.Contains("MaxUploadBytes", refused.GetProperty("message").GetString());
        Assert.Empty(Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads"), "*.part"));

        // A start that declares more than what is left is refused before anything is written.
        await uploader.SendAsync(new { type = "stream_start", streamId = "three", streamType = "file_upload", metadata = new { filename = "three.bin", size = 5000 } });
        Assert.Equal("payload_too_large", (await uploader.ReceiveAsync("error")).GetProperty("code").GetString());
        Assert.Single(Directory.GetFiles(Path.Combine(gateway.DataDir, "uploads")));

        // The operator deletes the old upload: the space is free again.
        File.Delete(Path.Combine(gateway.DataDir, first.GetProperty("path").GetString()!));
        Assert.Equal(8000, (await Upload("four", 2)).GetProperty("bytes").GetInt64());
    }
}
