-- Agents, policy, gated calls, decisions, the audit log and webhook deliveries.
-- Timestamps are milliseconds since the Unix epoch (UTC); JSON is stored as TEXT.

CREATE TABLE agents (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL UNIQUE,
    key_hash       TEXT NOT NULL UNIQUE,   -- SHA-256 of the API key; the key is shown once
    key_prefix     TEXT NOT NULL,          -- first characters, to recognise a key in lists
    webhook_secret TEXT NOT NULL,          -- HMAC key for webhook signatures
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at     INTEGER NOT NULL
) STRICT;

-- The whole policy as one JSON document; each change is a new version.
CREATE TABLE policy_versions (
    version    INTEGER PRIMARY KEY AUTOINCREMENT,
    document   TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE calls (
    id                  TEXT PRIMARY KEY NOT NULL,
    agent_id            TEXT NOT NULL REFERENCES agents (id),
    session             TEXT NOT NULL,
    tool                TEXT NOT NULL,
    args                TEXT NOT NULL,
    reason              TEXT,
    context             TEXT,
    risk                TEXT NOT NULL,      -- JSON array of risk classes
    alternatives        TEXT NOT NULL,      -- JSON array of strings
    checkpoint          TEXT,
    callback_url        TEXT,
    status              TEXT NOT NULL CHECK (status IN
        ('allowed', 'denied', 'pending', 'approved', 'expired', 'cancelled', 'executed', 'stale')),
    rule                TEXT,
    message             TEXT,
    approvals_required  INTEGER,
    approver_role       TEXT,
    confirm             TEXT,               -- rendered typed-confirmation phrase
    approval_ttl_ms     INTEGER,
    deadline            INTEGER,
    approved_args       TEXT,               -- what may be executed (edited or as proposed)
    approved_args_hash  TEXT,               -- SHA-256 of its canonical JSON
    approval_expires_at INTEGER,
    idempotency_key     TEXT,
    response            TEXT NOT NULL,      -- the first answer, replayed for the same idempotency key
    created_at          INTEGER NOT NULL,
    decided_at          INTEGER,
    executed_at         INTEGER
) STRICT;

CREATE UNIQUE INDEX calls_idempotency ON calls (agent_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX calls_pending_deadline ON calls (deadline) WHERE status = 'pending';
CREATE INDEX calls_approved_expiry ON calls (approval_expires_at) WHERE status = 'approved';
CREATE INDEX calls_novelty ON calls (agent_id, session, tool) WHERE status IN ('allowed', 'executed');
CREATE INDEX calls_agent_session ON calls (agent_id, session, created_at);
CREATE INDEX calls_agent_tool ON calls (agent_id, tool, created_at);
CREATE INDEX calls_created ON calls (created_at);

CREATE TABLE decisions (
    call_id     TEXT NOT NULL REFERENCES calls (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    username    TEXT NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
    feedback    TEXT,
    edited_args TEXT,
    at          INTEGER NOT NULL,
    PRIMARY KEY (call_id, user_id)            -- the same person never counts twice
) STRICT;

-- Append-only, hash-chained: hash = SHA-256(prev_hash || the row's canonical content).
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,                -- "user:<name>", "agent:<name>", "system"
    kind        TEXT NOT NULL,                -- e.g. call.proposed, call.approved, policy.changed
    agent_id    TEXT,
    call_id     TEXT,
    from_status TEXT,
    to_status   TEXT,
    detail      TEXT NOT NULL,                -- JSON
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
) STRICT;

CREATE INDEX audit_agent_leaving_pending ON audit_events (agent_id, id) WHERE from_status = 'pending';
CREATE INDEX audit_call ON audit_events (call_id, id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Webhook outbox: written in the same transaction as the transition it reports.
CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id         TEXT NOT NULL REFERENCES calls (id),
    url             TEXT NOT NULL,
    event_id        INTEGER NOT NULL,         -- the audit event it reports
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    gave_up_at      INTEGER
) STRICT;

CREATE INDEX webhooks_due ON webhooks (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;

CREATE TABLE webhook_attempts (
    webhook_id  INTEGER NOT NULL REFERENCES webhooks (id),
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, attempt)
) STRICT;
