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
    until       BIGINT NOT NULL,
    PRIMARY KEY (agent_id, tool, args_hash)
);

-- One row per new key: the denial that holds longest.
INSERT INTO no_retry_meaning (agent_id, tool, args_hash, call_id, feedback, reason_code, until)
SELECT DISTINCT ON (agent_id, tool, args_hash)
    agent_id, tool, 'legacy:' || args_hash, call_id, feedback, reason_code, until
FROM no_retry
ORDER BY agent_id, tool, args_hash, until DESC;

DROP TABLE no_retry;
ALTER TABLE no_retry_meaning RENAME TO no_retry;
ALTER TABLE no_retry RENAME CONSTRAINT no_retry_meaning_pkey TO no_retry_pkey;
ALTER TABLE no_retry RENAME CONSTRAINT no_retry_meaning_agent_id_fkey TO no_retry_agent_id_fkey;
ALTER TABLE no_retry RENAME CONSTRAINT no_retry_meaning_call_id_fkey TO no_retry_call_id_fkey;

-- The audit log's head is published through the notification outbox: a message about no
-- call (`call_id` NULL, kind `audit_head`).
ALTER TABLE notify_outbox ALTER COLUMN call_id DROP NOT NULL;
ALTER TABLE notify_outbox DROP CONSTRAINT notify_outbox_kind_check;
ALTER TABLE notify_outbox ADD CONSTRAINT notify_outbox_kind_check
    CHECK (kind IN ('gated', 'reminder', 'escalated', 'audit_head'));
