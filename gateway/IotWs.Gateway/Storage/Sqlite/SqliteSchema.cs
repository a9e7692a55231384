namespace IotWs.Gateway.Storage.Sqlite;

/// <summary>
/// Every feature's SQLite schema, as steps: step i brings feature f to version i+1 (schema_versions keeps the
/// version of each feature). Steps are only ever appended; a released step is never changed.
/// </summary>
public static class SqliteSchema
{
    public sealed record Migration(string Feature, IReadOnlyList<string> Steps);

    public static IReadOnlyList<Migration> Features { get; } = [Alerts, Cluster, Identity, Presence, Readings, Rpc];

    private static Migration Alerts => new("alerts",
    [
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL,
            metric TEXT NOT NULL,
            device_id TEXT NOT NULL,
            severity TEXT NOT NULL,
            state TEXT NOT NULL,
            message TEXT NOT NULL,
            value REAL,
            raised_at_ms INTEGER NOT NULL,
            cleared_at_ms INTEGER
        )
        """,
        "CREATE INDEX alerts_state ON alerts (state, id)",
        "ALTER TABLE alerts ADD COLUMN started_at_ms INTEGER",
        "ALTER TABLE alerts ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE alerts ADD COLUMN resolution TEXT",
        "ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT",
        "ALTER TABLE alerts ADD COLUMN acknowledged_at_ms INTEGER",
    ]);

    // Leases: which gateway sharing the database does the work that must run once (see ILeaseStore).
    private static Migration Cluster => new("cluster",
    [
        "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID",
    ]);

    private static Migration Identity => new("identity",
    [
        """
        CREATE TABLE devices (
          device_id TEXT PRIMARY KEY,
          name TEXT, location TEXT,
          token_hash BLOB NOT NULL,
          created_at TEXT NOT NULL,
          revoked INTEGER NOT NULL DEFAULT 0);
        CREATE UNIQUE INDEX devices_token ON devices(token_hash);
        CREATE TABLE api_keys (
          name TEXT PRIMARY KEY,
          role TEXT NOT NULL,
          key_hash BLOB NOT NULL,
          created_at TEXT NOT NULL,
          revoked INTEGER NOT NULL DEFAULT 0);
        CREATE UNIQUE INDEX api_keys_hash ON api_keys(key_hash);
        """,
        // A change counter every writer bumps (the triggers make the CLI, another process, bump it too):
        // the gateway polls this one row to refresh its identity cache and close revoked sessions.
        // Login codes are one-time and short-lived; sessions are what a code is exchanged for.
        """
        CREATE TABLE identity_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
        INSERT INTO identity_version(id, version) VALUES (1, 0);
        CREATE TABLE login_codes (
          code_hash BLOB PRIMARY KEY,
          key_name TEXT NOT NULL,
          expires_at INTEGER NOT NULL);
        CREATE TABLE login_sessions (
          session_hash BLOB PRIMARY KEY,
          key_name TEXT NOT NULL,
          created_at TEXT NOT NULL,
          expires_at INTEGER NOT NULL,
          revoked INTEGER NOT NULL DEFAULT 0);
        CREATE TRIGGER devices_ins AFTER INSERT ON devices BEGIN UPDATE identity_version SET version = version + 1; END;
        CREATE TRIGGER devices_upd AFTER UPDATE ON devices BEGIN UPDATE identity_version SET version = version + 1; END;
        CREATE TRIGGER devices_del AFTER DELETE ON devices BEGIN UPDATE identity_version SET version = version + 1; END;
        CREATE TRIGGER api_keys_ins AFTER INSERT ON api_keys BEGIN UPDATE identity_version SET version = version + 1; END;
        CREATE TRIGGER api_keys_upd AFTER UPDATE ON api_keys BEGIN UPDATE identity_version SET version = version + 1; END;
        CREATE TRIGGER api_keys_del AFTER DELETE ON api_keys BEGIN UPDATE identity_version SET version = version + 1; END;
        CREATE TRIGGER login_sessions_ins AFTER INSERT ON login_sessions BEGIN UPDATE identity_version SET version = version + 1; END;
        CREATE TRIGGER login_sessions_upd AFTER UPDATE ON login_sessions BEGIN UPDATE identity_version SET version = version + 1; END;
        CREATE TRIGGER login_sessions_del AFTER DELETE ON login_sessions BEGIN UPDATE identity_version SET version = version + 1; END;
        """,
    ]);

    // presence_history: every transition; presence_state: one row per device.
    private static Migration Presence => new("presence",
    [
        "CREATE TABLE presence_history (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, at_ms INTEGER NOT NULL)",
        "CREATE INDEX presence_history_device ON presence_history (device_id, id)",
        "CREATE INDEX presence_history_at ON presence_history (at_ms)",
        """
        CREATE TABLE presence_state (
            device_id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            status_since_ms INTEGER,
            last_seen_ms INTEGER,
            boot_id INTEGER,
            heartbeat_interval_ms INTEGER NOT NULL,
            last_heartbeat TEXT
        ) WITHOUT ROWID
        """,
    ]);

    // The readings table is a rowid heap in arrival order (cheap appends); the per-device structures (time index and
    // duplicate keys) are separate WITHOUT ROWID tables filled in sorted per-device runs by PendingIndex; rollups are
    // keyed by (bucket, device) so a commit touches only the current buckets' pages.
    private static Migration Readings => new("readings",
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
    ]);

    // Times are epoch milliseconds (UTC): cheap to compare in sweeps. seq orders delivery of a device's queued
    // calls and the audit log (newest first).
    private static Migration Rpc => new("rpc",
    [
        """
        CREATE TABLE rpc_calls (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          device_id TEXT NOT NULL,
          endpoint TEXT NOT NULL,
          data TEXT NOT NULL,
          status TEXT NOT NULL,
          caller TEXT NOT NULL,
          role TEXT NOT NULL,
          persistent INTEGER NOT NULL,
          timeout_ms INTEGER NOT NULL,
          idempotency_key TEXT,
          idempotent_until INTEGER,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          sent_at INTEGER,
          completed_at INTEGER,
          expires_at INTEGER,
          result TEXT,
          error TEXT,
          duration_ms INTEGER,
          ack_boot_id INTEGER,
          confirm_deadline INTEGER);
        CREATE INDEX rpc_calls_device ON rpc_calls(device_id, seq);
        CREATE INDEX rpc_calls_open ON rpc_calls(status, device_id) WHERE status IN ('queued', 'sent', 'rebooting');
        CREATE INDEX rpc_calls_idempotency ON rpc_calls(device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX rpc_calls_created ON rpc_calls(created_at);
        CREATE TABLE rpc_history (
          call_seq INTEGER NOT NULL REFERENCES rpc_calls(seq) ON DELETE CASCADE,
          status TEXT NOT NULL,
          at INTEGER NOT NULL);
        CREATE INDEX rpc_history_call ON rpc_history(call_seq);
        """,
        // The node that sent a call (null on a single gateway): a restarting node fails only its own calls in flight.
        "ALTER TABLE rpc_calls ADD COLUMN node TEXT",
        "CREATE INDEX rpc_calls_sent_node ON rpc_calls(node) WHERE status = 'sent'",
    ]);
}
