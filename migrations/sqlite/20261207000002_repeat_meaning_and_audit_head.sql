-- Do-not-retry holds for what a call means, not how it is spelled or which session sends
-- it: keyed by agent, tool and the hash of the arguments' meaning (numbers in RFC 8785
-- form, NFC text, no `null`-valued keys, no invisible characters). Rows written before
-- this key are kept with their hash prefixed `legacy:`; the server rehashes them from
-- their call's arguments when it starts.
CREATE TABLE no_retry_meaning (
    agent_id    TEXT NOT NULL REFERENCES agents (id),
    tool        TEXT NOT NULL,
    args_hash   TEXT NOT NULL,
    call_id     TEXT NOT NULL REFERENCES calls (id),
    feedback    TEXT NOT NULL,
    reason_code TEXT,
    until       INTEGER NOT NULL,
    PRIMARY KEY (agent_id, tool, args_hash)
) STRICT;

INSERT INTO no_retry_meaning (agent_id, tool, args_hash, call_id, feedback, reason_code, until)
SELECT agent_id, tool, 'legacy:' || args_hash, call_id, feedback, reason_code, until
FROM no_retry WHERE true
ON CONFLICT (agent_id, tool, args_hash) DO UPDATE SET
    call_id = excluded.call_id, feedback = excluded.feedback,
    reason_code = excluded.reason_code, until = excluded.until
WHERE excluded.until > no_retry_meaning.until;

DROP TABLE no_retry;
ALTER TABLE no_retry_meaning RENAME TO no_retry;

-- The audit log's head is published through the notification outbox: a message about no
-- call (`call_id` NULL, kind `audit_head`). SQLite changes a column or a CHECK by rebuilding
-- the table; the delivery log is rebuilt with it so that its rows are not cascaded away.
CREATE TABLE notify_outbox_new (
    id              INTEGER PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
    call_id         TEXT REFERENCES calls (id),  -- NULL: not about a call (`audit_head`)
    kind            TEXT NOT NULL CHECK (kind IN ('gated', 'reminder', 'escalated', 'audit_head')),
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
INSERT INTO notify_outbox_new SELECT * FROM notify_outbox;

CREATE TABLE notify_attempts_new (
    id          INTEGER PRIMARY KEY,
    outbox_id   INTEGER NOT NULL REFERENCES notify_outbox_new (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    UNIQUE (outbox_id, attempt)
) STRICT;
INSERT INTO notify_attempts_new SELECT * FROM notify_attempts;

DROP TABLE notify_attempts;
DROP TABLE notify_outbox;
ALTER TABLE notify_outbox_new RENAME TO notify_outbox;
ALTER TABLE notify_attempts_new RENAME TO notify_attempts;
CREATE INDEX notify_outbox_due ON notify_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL AND skipped_at IS NULL;
