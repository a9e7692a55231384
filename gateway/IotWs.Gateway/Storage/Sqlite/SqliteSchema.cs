namespace IotWs.Gateway.Storage;

/// <summary>
/// Schema of feature "readings". The readings table is a rowid heap in arrival order (cheap appends);
/// the per-device structures (time index and duplicate keys) are separate WITHOUT ROWID tables filled in
/// sorted per-device runs by <see cref="PendingIndex"/>; rollups are keyed by (bucket, device) so a commit
/// touches only the current buckets' pages.
/// </summary>
public sealed class ReadingsSchema : ISchemaMigration
{
    public string Feature => "readings";

    public IReadOnlyList<string> Steps { get; } =
    [
        """
        CREATE TABLE readings (
          id INTEGER PRIMARY KEY,
          device_id TEXT NOT NULL,
          boot_id INTEGER,
          seq INTEGER,
          ts INTEGER NOT NULL,
          device_ts,
          temperature REAL NOT NULL,
          humidity REAL NOT NULL,
          sensor_id TEXT,
          location TEXT,
          extra TEXT);
        CREATE TABLE reading_index (
          device_id TEXT NOT NULL, ts INTEGER NOT NULL, id INTEGER NOT NULL,
          PRIMARY KEY (device_id, ts, id)) WITHOUT ROWID;
        CREATE TABLE reading_keys (
          device_id TEXT NOT NULL, boot_id INTEGER NOT NULL, seq INTEGER NOT NULL, id INTEGER NOT NULL,
          PRIMARY KEY (device_id, boot_id, seq)) WITHOUT ROWID;
        CREATE TABLE readings_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE rollup_1m (
          bucket INTEGER NOT NULL, device_id TEXT NOT NULL, count INTEGER NOT NULL,
          t_min REAL NOT NULL, t_max REAL NOT NULL, t_sum REAL NOT NULL,
          h_min REAL NOT NULL, h_max REAL NOT NULL, h_sum REAL NOT NULL,
          PRIMARY KEY (bucket, device_id)) WITHOUT ROWID;
        CREATE INDEX rollup_1m_device ON rollup_1m (device_id, bucket);
        CREATE TABLE rollup_1h (
          bucket INTEGER NOT NULL, device_id TEXT NOT NULL, count INTEGER NOT NULL,
          t_min REAL NOT NULL, t_max REAL NOT NULL, t_sum REAL NOT NULL,
          h_min REAL NOT NULL, h_max REAL NOT NULL, h_sum REAL NOT NULL,
          PRIMARY KEY (bucket, device_id)) WITHOUT ROWID;
        CREATE INDEX rollup_1h_device ON rollup_1h (device_id, bucket);
        CREATE TABLE events (
          id INTEGER PRIMARY KEY,
          ts INTEGER NOT NULL,
          data_type TEXT NOT NULL,
          client_id TEXT NOT NULL,
          principal TEXT,
          device_id TEXT,
          boot_id INTEGER,
          seq INTEGER,
          data TEXT NOT NULL);
        CREATE INDEX events_ts ON events (ts);
        """,
    ];
}
