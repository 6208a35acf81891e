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

INSERT INTO no_retry_meaning (agent_id, tool, args_hash, call_id, feedback, reason_code, until)
SELECT agent_id, tool, 'legacy:' || args_hash, call_id, feedback, reason_code, until
FROM no_retry
ON CONFLICT (agent_id, tool, args_hash) DO UPDATE SET
    call_id = excluded.call_id, feedback = excluded.feedback,
    reason_code = excluded.reason_code, until = excluded.until
WHERE excluded.until > no_retry_meaning.until;

DROP TABLE no_retry;
ALTER TABLE no_retry_meaning RENAME TO no_retry;
ALTER TABLE no_retry RENAME CONSTRAINT no_retry_meaning_pkey TO no_retry_pkey;
