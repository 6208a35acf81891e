-- Insights: hourly rollups of what happened to calls, kept up to date from the audit log
-- by the server (one reader of the log, `insight_state.last_event_id` says how far), so the
-- insights page reads a few thousand rollup rows instead of a million calls.

-- One row per hour, agent, tool and call pattern (the tool plus the argument values the
-- policy decides on). Counts by what happened in that hour; d0..d15 count decisions by
-- people per time-to-decide bucket (bounds in src/domain/insights.rs).
CREATE TABLE insight_rollups (
    hour           INTEGER NOT NULL,          -- ms at the start of the UTC hour
    agent_id       TEXT NOT NULL,
    tool           TEXT NOT NULL,
    pattern        TEXT NOT NULL,
    proposed       INTEGER NOT NULL DEFAULT 0,
    allowed        INTEGER NOT NULL DEFAULT 0,
    denied_policy  INTEGER NOT NULL DEFAULT 0,
    gated          INTEGER NOT NULL DEFAULT 0,
    bypassed       INTEGER NOT NULL DEFAULT 0,
    approved       INTEGER NOT NULL DEFAULT 0,
    denied_people  INTEGER NOT NULL DEFAULT 0,
    expired        INTEGER NOT NULL DEFAULT 0,
    cancelled      INTEGER NOT NULL DEFAULT 0,
    stale          INTEGER NOT NULL DEFAULT 0,
    executed       INTEGER NOT NULL DEFAULT 0,
    flagged        INTEGER NOT NULL DEFAULT 0,   -- executions people flagged afterwards
    d0 INTEGER NOT NULL DEFAULT 0, d1 INTEGER NOT NULL DEFAULT 0, d2 INTEGER NOT NULL DEFAULT 0,
    d3 INTEGER NOT NULL DEFAULT 0, d4 INTEGER NOT NULL DEFAULT 0, d5 INTEGER NOT NULL DEFAULT 0,
    d6 INTEGER NOT NULL DEFAULT 0, d7 INTEGER NOT NULL DEFAULT 0, d8 INTEGER NOT NULL DEFAULT 0,
    d9 INTEGER NOT NULL DEFAULT 0, d10 INTEGER NOT NULL DEFAULT 0, d11 INTEGER NOT NULL DEFAULT 0,
    d12 INTEGER NOT NULL DEFAULT 0, d13 INTEGER NOT NULL DEFAULT 0, d14 INTEGER NOT NULL DEFAULT 0,
    d15 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, agent_id, tool, pattern)
);

-- The same counts per UTC day: a month reads 30 rows per group instead of 720 (a period
-- reads whole days here and its ragged ends from the hourly rows).
CREATE TABLE insight_daily (
    day            INTEGER NOT NULL,          -- ms at the start of the UTC day
    agent_id       TEXT NOT NULL,
    tool           TEXT NOT NULL,
    pattern        TEXT NOT NULL,
    proposed       INTEGER NOT NULL DEFAULT 0,
    allowed        INTEGER NOT NULL DEFAULT 0,
    denied_policy  INTEGER NOT NULL DEFAULT 0,
    gated          INTEGER NOT NULL DEFAULT 0,
    bypassed       INTEGER NOT NULL DEFAULT 0,
    approved       INTEGER NOT NULL DEFAULT 0,
    denied_people  INTEGER NOT NULL DEFAULT 0,
    expired        INTEGER NOT NULL DEFAULT 0,
    cancelled      INTEGER NOT NULL DEFAULT 0,
    stale          INTEGER NOT NULL DEFAULT 0,
    executed       INTEGER NOT NULL DEFAULT 0,
    flagged        INTEGER NOT NULL DEFAULT 0,   -- executions people flagged afterwards
    d0 INTEGER NOT NULL DEFAULT 0, d1 INTEGER NOT NULL DEFAULT 0, d2 INTEGER NOT NULL DEFAULT 0,
    d3 INTEGER NOT NULL DEFAULT 0, d4 INTEGER NOT NULL DEFAULT 0, d5 INTEGER NOT NULL DEFAULT 0,
    d6 INTEGER NOT NULL DEFAULT 0, d7 INTEGER NOT NULL DEFAULT 0, d8 INTEGER NOT NULL DEFAULT 0,
    d9 INTEGER NOT NULL DEFAULT 0, d10 INTEGER NOT NULL DEFAULT 0, d11 INTEGER NOT NULL DEFAULT 0,
    d12 INTEGER NOT NULL DEFAULT 0, d13 INTEGER NOT NULL DEFAULT 0, d14 INTEGER NOT NULL DEFAULT 0,
    d15 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, agent_id, tool, pattern)
);

-- Every call pattern seen: how many people-decisions in a row were approvals since the
-- last denial (the ungate suggestion wants at least 20), and the patterns of one tool are
-- capped (beyond the cap a tool's further values fold into one "other values" pattern).
CREATE TABLE insight_patterns (
    tool              TEXT NOT NULL,
    pattern           TEXT NOT NULL,
    rule              TEXT,                    -- the rule that last gated or decided it
    args              TEXT NOT NULL,           -- JSON object: pointer -> value deciding it
    approvals_in_row  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tool, pattern)
);

-- How far the rollups have read the audit log.
CREATE TABLE insight_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id INTEGER NOT NULL
);
INSERT INTO insight_state (id, last_event_id) VALUES (1, 0);

-- Suggestions someone dismissed, with the evidence they saw: one comes back only when the
-- evidence changed materially.
CREATE TABLE insight_dismissals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,               -- ungate | tighten
    tool         TEXT NOT NULL,
    pattern      TEXT NOT NULL,
    decisions    INTEGER NOT NULL,            -- evidence at the time: decisions by people
    denials      INTEGER NOT NULL,            -- and how many of them were denials
    reason       TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id),
    username     TEXT NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX insight_dismissals_pattern ON insight_dismissals (kind, tool, pattern, id);

-- When a person opened a call's card and whether they expanded its full arguments: the
-- rubber-stamp watch reads these beside the reviews.
CREATE TABLE card_views (
    call_id     TEXT NOT NULL REFERENCES calls (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    opened_at   INTEGER NOT NULL,             -- first opening
    expanded_at INTEGER,                      -- first time the full arguments were opened
    PRIMARY KEY (call_id, user_id)
);

-- Reviews by person and time, for the rubber-stamp watch.
CREATE INDEX reviews_user_at ON reviews (user_id, at);

-- Denials with feedback, newest first, for grouping feedback by similarity.
CREATE INDEX reviews_denials ON reviews (at) WHERE decision = 'deny';

-- A person's flag on a call that ran (allowed by policy or approved), with why: the
-- evidence for tightening a pattern policy lets through.
CREATE TABLE call_flags (
    call_id   TEXT NOT NULL REFERENCES calls (id),
    user_id   TEXT NOT NULL REFERENCES users (id),
    username  TEXT NOT NULL,
    reason    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (call_id, user_id)
);
CREATE INDEX call_flags_at ON call_flags (at);
