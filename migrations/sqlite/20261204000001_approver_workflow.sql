-- The approver workflow: what a gate's deadline does (expire, deny, escalate), extended
-- deadlines, remembered grants, and denials an agent must not retry.

-- The workflow a call's rule gave it, frozen at proposal (JSON; NULL: the defaults).
ALTER TABLE calls ADD COLUMN workflow TEXT;
-- Set once, when the deadline escalated the call: when, and to whom (`manager`, `group:x`).
ALTER TABLE calls ADD COLUMN escalated_at INTEGER;
ALTER TABLE calls ADD COLUMN escalated_to TEXT;
-- For an escalation to a group: the ids of its members who could decide then (JSON).
ALTER TABLE calls ADD COLUMN escalated_ids TEXT;
-- How often an approver extended the deadline (at most twice).
ALTER TABLE calls ADD COLUMN extensions INTEGER NOT NULL DEFAULT 0 CHECK (extensions >= 0);
-- A person's denial: the preset reason it named, and 0 when the agent must not retry.
ALTER TABLE calls ADD COLUMN reason_code TEXT;
ALTER TABLE calls ADD COLUMN retry INTEGER CHECK (retry IN (0, 1));

-- "Also approve identical (or similar) calls for the next N minutes / uses": one
-- approver's word, recorded like a bypass with one reviewer.
CREATE TABLE grants (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id       TEXT NOT NULL REFERENCES calls (id),   -- the approval that gave it
    granted_by_id TEXT NOT NULL REFERENCES users (id),
    granted_by    TEXT NOT NULL,
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    tool          TEXT NOT NULL,
    rule          TEXT NOT NULL,                         -- grants cover calls this rule gates
    covers        TEXT NOT NULL,                         -- JSON: identical hash or decisive values
    scope_hash    TEXT NOT NULL,                         -- of agent, tool, rule and covers
    created_at    INTEGER NOT NULL,
    ends_at       INTEGER NOT NULL,
    max_uses      INTEGER NOT NULL CHECK (max_uses >= 1),
    used          INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    status        TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'ended', 'used_up')),
    resolved_at   INTEGER,
    revoked_by    TEXT
) STRICT;

CREATE INDEX grants_active ON grants (ends_at) WHERE status = 'active';
CREATE INDEX grants_created ON grants (created_at, id);

-- The grant that approved a call, if one did.
ALTER TABLE calls ADD COLUMN grant_id INTEGER REFERENCES grants (id);
CREATE INDEX calls_grant ON calls (grant_id, created_at) WHERE grant_id IS NOT NULL;

-- Denials marked "do not retry": a repeat of the same call (same agent, session, tool and
-- arguments) until `until` is denied at once with the same feedback.
CREATE TABLE no_retry (
    agent_id    TEXT NOT NULL REFERENCES agents (id),
    session     TEXT NOT NULL,
    tool        TEXT NOT NULL,
    args_hash   TEXT NOT NULL,
    call_id     TEXT NOT NULL REFERENCES calls (id),
    feedback    TEXT NOT NULL,
    reason_code TEXT,
    until       INTEGER NOT NULL,
    PRIMARY KEY (agent_id, session, tool, args_hash)
) STRICT;
