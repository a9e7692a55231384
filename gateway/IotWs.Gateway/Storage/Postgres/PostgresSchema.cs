namespace IotWs.Gateway.Storage.Postgres;

/// <summary>
/// Every feature's PostgreSQL schema, as steps (step i brings feature f to version i+1; schema_versions keeps each
/// feature's version). Times are epoch milliseconds, as on SQLite. Ids come from identity columns and sequences,
/// so they are unique across every gateway sharing the database. Steps are only ever appended.
/// </summary>
public static class PostgresSchema
{
    public sealed record Migration(string Feature, IReadOnlyList<string> Steps);

    public static IReadOnlyList<Migration> Features { get; } = [Alerts, Cluster, DataProtection, Identity, Presence, Readings, Rpc];

    private static Migration Alerts => new("alerts",
    [
        """
        CREATE SEQUENCE alert_ids;
        CREATE TABLE alerts (
            id bigint PRIMARY KEY,
            rule text NOT NULL,
            metric text NOT NULL,
            device_id text NOT NULL,
            severity text NOT NULL,
            state text NOT NULL,
            message text NOT NULL,
            value double precision,
            raised_at_ms bigint NOT NULL,
            cleared_at_ms bigint,
            started_at_ms bigint NOT NULL,
            occurrences integer NOT NULL DEFAULT 1,
            resolution text,
            acknowledged_by text,
            acknowledged_at_ms bigint);
        CREATE INDEX alerts_state ON alerts (state, id);
        """,
    ]);

    // Leases: which gateway sharing the database does the work that must run once (see ILeaseStore).
    private static Migration Cluster => new("cluster",
    [
        "CREATE TABLE leases (name text PRIMARY KEY, holder text NOT NULL, expires_at bigint NOT NULL)",
    ]);

    // The Data Protection key ring, one row per key or revocation element (friendly names are not unique by contract).
    private static Migration DataProtection => new("dataprotection",
    [
        """
        CREATE TABLE data_protection_keys (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          friendly_name text NOT NULL,
          xml text NOT NULL,
          created_at_ms bigint NOT NULL);
        """,
    ]);

    // identity_version is bumped by a row trigger on every write, whichever process (gateway node or CLI) makes it.
    private static Migration Identity => new("identity",
    [
        """
        CREATE TABLE devices (
          device_id text PRIMARY KEY,
          name text, location text,
          token_hash bytea NOT NULL UNIQUE,
          created_at_ms bigint NOT NULL,
          revoked boolean NOT NULL DEFAULT false);
        CREATE TABLE api_keys (
          name text PRIMARY KEY,
          role text NOT NULL,
          key_hash bytea NOT NULL UNIQUE,
          created_at_ms bigint NOT NULL,
          revoked boolean NOT NULL DEFAULT false);
        CREATE TABLE identity_version (id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
        INSERT INTO identity_version (id, version) VALUES (1, 0);
        CREATE TABLE login_codes (
          code_hash bytea PRIMARY KEY,
          key_name text NOT NULL,
          expires_at bigint NOT NULL);
        CREATE TABLE login_sessions (
          session_hash bytea PRIMARY KEY,
          key_name text NOT NULL,
          created_at_ms bigint NOT NULL,
          expires_at bigint NOT NULL,
          revoked boolean NOT NULL DEFAULT false);
        CREATE FUNCTION identity_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE identity_version SET version = version + 1;
          RETURN NULL;
        END $$;
        CREATE TRIGGER devices_bump AFTER INSERT OR UPDATE OR DELETE ON devices FOR EACH ROW EXECUTE FUNCTION identity_bump();
        CREATE TRIGGER api_keys_bump AFTER INSERT OR UPDATE OR DELETE ON api_keys FOR EACH ROW EXECUTE FUNCTION identity_bump();
        CREATE TRIGGER login_sessions_bump AFTER INSERT OR UPDATE OR DELETE ON login_sessions FOR EACH ROW EXECUTE FUNCTION identity_bump();
        """,
    ]);

    private static Migration Presence => new("presence",
    [
        """
        CREATE TABLE presence_history (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          device_id text NOT NULL, status text NOT NULL, reason text NOT NULL, at_ms bigint NOT NULL);
        CREATE INDEX presence_history_device ON presence_history (device_id, id);
        CREATE INDEX presence_history_at ON presence_history (at_ms);
        CREATE TABLE presence_state (
          device_id text PRIMARY KEY,
          status text NOT NULL,
          status_since_ms bigint,
          last_seen_ms bigint,
          boot_id bigint,
          heartbeat_interval_ms bigint NOT NULL,
          last_heartbeat text);
        """,
    ]);

    // The unique (device, boot, seq) key is the duplicate check (NULLs never collide: unkeyed readings always insert);
    // rollups are kept current in the commit's own transaction; a BRIN index on ts serves retention at little cost.
    private static Migration Readings => new("readings",
    [
        """
        CREATE TABLE readings (
          id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
          device_id text NOT NULL,
          boot_id bigint,
          seq bigint,
          ts bigint NOT NULL,
          device_ts jsonb,
          temperature double precision NOT NULL,
          humidity double precision NOT NULL,
          sensor_id text,
          location text,
          extra text,
          CONSTRAINT readings_key UNIQUE (device_id, boot_id, seq));
        CREATE INDEX readings_device_ts ON readings (device_id, ts, id);
        CREATE INDEX readings_ts ON readings USING brin (ts);
        CREATE TABLE rollup_1m (
          device_id text NOT NULL, bucket bigint NOT NULL, count bigint NOT NULL,
          t_min double precision NOT NULL, t_max double precision NOT NULL, t_sum double precision NOT NULL,
          h_min double precision NOT NULL, h_max double precision NOT NULL, h_sum double precision NOT NULL,
          PRIMARY KEY (device_id, bucket));
        CREATE INDEX rollup_1m_bucket ON rollup_1m (bucket);
        CREATE TABLE rollup_1h (
          device_id text NOT NULL, bucket bigint NOT NULL, count bigint NOT NULL,
          t_min double precision NOT NULL, t_max double precision NOT NULL, t_sum double precision NOT NULL,
          h_min double precision NOT NULL, h_max double precision NOT NULL, h_sum double precision NOT NULL,
          PRIMARY KEY (device_id, bucket));
        CREATE INDEX rollup_1h_bucket ON rollup_1h (bucket);
        CREATE TABLE events (
          id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
          ts bigint NOT NULL,
          data_type text NOT NULL,
          client_id text NOT NULL,
          principal text,
          device_id text,
          boot_id bigint,
          seq bigint,
          data text NOT NULL);
        CREATE INDEX events_ts ON events (ts);
        """,
    ]);

    // seq orders delivery of a device's queued calls and the audit log (newest first); rpc_history.id keeps the order of a call's statuses.
    private static Migration Rpc => new("rpc",
    [
        """
        CREATE TABLE rpc_calls (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          id text NOT NULL UNIQUE,
          device_id text NOT NULL,
          endpoint text NOT NULL,
          data text NOT NULL,
          status text NOT NULL,
          caller text NOT NULL,
          role text NOT NULL,
          persistent boolean NOT NULL,
          timeout_ms bigint NOT NULL,
          idempotency_key text,
          idempotent_until bigint,
          created_at bigint NOT NULL,
          updated_at bigint NOT NULL,
          sent_at bigint,
          completed_at bigint,
          expires_at bigint,
          result text,
          error text,
          duration_ms bigint,
          ack_boot_id bigint,
          confirm_deadline bigint);
        CREATE INDEX rpc_calls_device ON rpc_calls (device_id, seq);
        CREATE INDEX rpc_calls_open ON rpc_calls (status, device_id) WHERE status IN ('queued', 'sent', 'rebooting');
        CREATE INDEX rpc_calls_idempotency ON rpc_calls (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX rpc_calls_created ON rpc_calls (created_at);
        CREATE TABLE rpc_history (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          call_seq bigint NOT NULL REFERENCES rpc_calls (seq) ON DELETE CASCADE,
          status text NOT NULL,
          at bigint NOT NULL);
        CREATE INDEX rpc_history_call ON rpc_history (call_seq, id);
        """,
        // The node that sent a call (null on a single gateway): a restarting node fails only its own calls in flight,
        // and the calls of a node that died are failed by the lease owner.
        """
        ALTER TABLE rpc_calls ADD COLUMN node text;
        CREATE INDEX rpc_calls_sent_node ON rpc_calls (node) WHERE status = 'sent';
        """,
    ]);
}
