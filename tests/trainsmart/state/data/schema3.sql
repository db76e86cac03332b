-- The state schema of the last release before Alembic (schema_version 3), as its
-- trainsmart/state/db.py created it: tests/trainsmart/test_migrations.py adopts such a file.
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    features TEXT NOT NULL,
    prediction TEXT NOT NULL,
    cache_hit INTEGER NOT NULL,
    UNIQUE (request_id, row_index)
);
CREATE INDEX IF NOT EXISTS inputs_model_version ON inputs (model, version, id);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    label TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (request_id, row_index)
);
CREATE TABLE IF NOT EXISTS production (
    model TEXT NOT NULL,
    position INTEGER NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (model, position)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    action TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS candidate (
    model TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    shadow INTEGER NOT NULL,
    set_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shadow (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    prediction TEXT NOT NULL,
    UNIQUE (request_id, row_index, version)
);
CREATE INDEX IF NOT EXISTS shadow_model_version ON shadow (model, version, id);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    pid INTEGER,
    log_path TEXT,
    result TEXT,
    trigger TEXT NOT NULL DEFAULT 'drift',
    actor TEXT NOT NULL DEFAULT 'monitor',
    champion_version TEXT,
    version TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_in_flight
    ON jobs (model) WHERE status IN ('queued', 'running');
CREATE TABLE IF NOT EXISTS webhook_alerts (
    group_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    received_at REAL NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (group_key, fingerprint, starts_at)
);
CREATE TABLE IF NOT EXISTS promotion_checks (
    audit_id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    previous TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (3);
