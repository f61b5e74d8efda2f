-- The control plane's schema (SQLite). Timestamps are microseconds since the Unix epoch (UTC);
-- flags are 0/1 integers and JSON documents are TEXT, so one set of runtime queries serves
-- SQLite and PostgreSQL alike (see src/store/mod.rs).

-- One row: the revision counter every committed change bumps (the watch feed's clock).
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO meta (id, revision) VALUES (1, 0);

-- Aggregates. No soft delete (Nova has none: `deleted` is always false on the wire).
-- `updated_at` follows Nova (changes on rename only); `changed_at` moves on every change.
CREATE TABLE aggregates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    availability_zone TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER,
    changed_at INTEGER NOT NULL
);
CREATE INDEX aggregates_availability_zone ON aggregates (availability_zone);

-- Compute hosts, each shown as a `nova-compute` service and a `compute` host.
CREATE TABLE hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    service_uuid TEXT NOT NULL UNIQUE,
    xapi_url TEXT,
    xapi_uuid TEXT,
    agent_version TEXT,
    last_heartbeat_at INTEGER,
    disabled INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    forced_down INTEGER NOT NULL DEFAULT 0,
    maintenance INTEGER NOT NULL DEFAULT 0,
    -- Capacity the agent reported (os-hosts show's "(total)" row); NULL until reported.
    cpu INTEGER,
    memory_mb INTEGER,
    disk_gb INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER
);

CREATE TABLE aggregate_hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_id INTEGER NOT NULL REFERENCES aggregates (id),
    host TEXT NOT NULL REFERENCES hosts (name),
    UNIQUE (aggregate_id, host)
);
CREATE INDEX aggregate_hosts_host ON aggregate_hosts (host);

-- Metadata other than the availability zone (kept in aggregates.availability_zone).
CREATE TABLE aggregate_metadata (
    aggregate_id INTEGER NOT NULL REFERENCES aggregates (id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, key)
);

-- Agent-reported pool status, per aggregate and per member host.
CREATE TABLE pool_status (
    aggregate_id INTEGER PRIMARY KEY REFERENCES aggregates (id),
    operational_state TEXT,
    error TEXT,
    updated_at INTEGER NOT NULL
);
CREATE TABLE pool_host_status (
    aggregate_id INTEGER NOT NULL REFERENCES aggregates (id),
    host TEXT NOT NULL,
    state TEXT,
    step TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (aggregate_id, host)
);

-- Operations (maintenance requests and plans) that a host's agent carries out.
CREATE TABLE operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    host TEXT NOT NULL REFERENCES hosts (name),
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    dry_run INTEGER NOT NULL DEFAULT 0,
    plan TEXT,
    vms TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    warnings TEXT NOT NULL DEFAULT '[]',
    superseded_by INTEGER,
    requested_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX operations_host_state ON operations (host, state);

-- Every change, with who made it.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    revision INTEGER,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    aggregate TEXT,
    host TEXT,
    message TEXT NOT NULL,
    details TEXT NOT NULL
);

-- Leases: one pool-changing step per pool at a time, across replicas.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
