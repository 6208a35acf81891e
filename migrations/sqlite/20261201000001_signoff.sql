-- Sign-off by managers: bypass requests, policy changes that loosen a gate and wait for
-- approval, the reviews of both, and the admin settings that govern them.

-- Admin settings, one row per key (absent: the documented default).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- A request that gated calls matching a scope be approved without a person for a window.
-- It cannot be edited once submitted: reviews are bound to `hash` (scope, window,
-- justification and whether typed-confirmation gates are included).
CREATE TABLE bypasses (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    requester_id         TEXT NOT NULL REFERENCES users (id),
    requester            TEXT NOT NULL,
    scope                TEXT NOT NULL,   -- JSON: {"agent", "tool", "args"} in the policy's match form
    include_confirmation INTEGER NOT NULL CHECK (include_confirmation IN (0, 1)),
    window_ms            INTEGER NOT NULL CHECK (window_ms > 0),
    reason               TEXT NOT NULL,
    hash                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN
        ('pending', 'active', 'denied', 'expired', 'revoked', 'ended')),
    approvals_required   INTEGER NOT NULL CHECK (approvals_required >= 2),
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL, -- the request's deadline while pending
    activated_at         INTEGER,
    ends_at              INTEGER,          -- activated_at + window_ms
    resolved_at          INTEGER,          -- when it was denied, expired, revoked or ended
    revoked_by           TEXT,
    used                 INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX bypasses_open ON bypasses (status, id) WHERE status IN ('pending', 'active');

-- A policy change that loosens a gate, waiting for managers. Re-basing it on a newer
-- version makes a new candidate (its reviews stop counting).
CREATE TABLE policy_changes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    base               INTEGER NOT NULL,  -- the policy version the change was made from
    document           TEXT NOT NULL,     -- the whole proposed policy
    author             TEXT NOT NULL,     -- "user:<name>" or "cli"
    author_id          TEXT REFERENCES users (id),
    comment            TEXT NOT NULL,
    candidate          INTEGER NOT NULL DEFAULT 1 CHECK (candidate >= 1),
    hash               TEXT NOT NULL,     -- of base, document and comment
    changes            TEXT NOT NULL,     -- JSON: the diff against `base`, in words
    findings           TEXT NOT NULL,     -- JSON: the loosening classifier's findings
    replay             TEXT NOT NULL,     -- JSON: recent calls whose outcome it changes
    status             TEXT NOT NULL CHECK (status IN
        ('pending', 'applied', 'denied', 'expired', 'withdrawn')),
    approvals_required INTEGER NOT NULL CHECK (approvals_required >= 2),
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    resolved_at        INTEGER,
    applied_version    INTEGER
) STRICT;

CREATE INDEX policy_changes_pending ON policy_changes (id) WHERE status = 'pending';

-- One manager's review of one candidate of a bypass request or a policy change.
CREATE TABLE signoff_reviews (
    subject    TEXT NOT NULL CHECK (subject IN ('bypass', 'policy_change')),
    subject_id INTEGER NOT NULL,
    candidate  INTEGER NOT NULL CHECK (candidate >= 1),
    user_id    TEXT NOT NULL REFERENCES users (id),
    username   TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'approver', 'manager', 'admin')),
    decision   TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
    comment    TEXT,
    shown_hash TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (subject, subject_id, candidate, user_id)
) STRICT;

-- The bypass that approved a call, if one did.
ALTER TABLE calls ADD COLUMN bypass_id INTEGER REFERENCES bypasses (id);
CREATE INDEX calls_bypass ON calls (bypass_id, created_at) WHERE bypass_id IS NOT NULL;
