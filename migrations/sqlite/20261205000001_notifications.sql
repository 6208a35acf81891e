-- Notifications: channels admins configure, routes from gated calls to channels, a durable
-- outbox of messages with its delivery log, and how far the audit log has been read for them.
-- Timestamps are milliseconds since the Unix epoch (UTC).

CREATE TABLE notify_channels (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('slack', 'email', 'webhook')),
    config           TEXT NOT NULL,          -- JSON: what is not secret (SMTP host, addresses, URL)
    secret           TEXT NOT NULL,          -- `enc:v1:<hex>` (encrypted) or `env:NAME`
    private          INTEGER NOT NULL DEFAULT 0 CHECK (private IN (0, 1)),
    reminder_percent INTEGER CHECK (reminder_percent BETWEEN 1 AND 99),
    enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE notify_routes (
    id         INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
    rule       TEXT NOT NULL DEFAULT '*',
    risk       TEXT NOT NULL DEFAULT '*',
    agent      TEXT NOT NULL DEFAULT '*',
    audience   TEXT NOT NULL DEFAULT '*',
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX notify_routes_channel ON notify_routes (channel_id);

-- One row per message: `dedupe` (call, kind, channel) makes a second enqueue of the same
-- message a no-op, so one event never notifies a channel twice.
CREATE TABLE notify_outbox (
    id              INTEGER PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
    call_id         TEXT NOT NULL REFERENCES calls (id),
    kind            TEXT NOT NULL CHECK (kind IN ('gated', 'reminder', 'escalated')),
    dedupe          TEXT NOT NULL UNIQUE,
    detail          TEXT NOT NULL DEFAULT '{}',  -- JSON: e.g. the audience escalated to
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    delivered_at    INTEGER,
    gave_up_at      INTEGER,
    skipped_at      INTEGER,                     -- the call left `pending` before it went
    last_result     TEXT
) STRICT;
-- The dispatcher reads only what still waits, soonest first.
CREATE INDEX notify_outbox_due ON notify_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL AND skipped_at IS NULL;

CREATE TABLE notify_attempts (
    id          INTEGER PRIMARY KEY,
    outbox_id   INTEGER NOT NULL REFERENCES notify_outbox (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    UNIQUE (outbox_id, attempt)
) STRICT;

-- The id of the newest audit event already turned into outbox rows.
CREATE TABLE notify_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    audit_id INTEGER NOT NULL
) STRICT;
