-- The admin's policy console: every saved version carries a comment and whether it
-- loosened a gate; each admin has at most one draft, based on the version it started from.

ALTER TABLE policy_versions ADD COLUMN comment TEXT NOT NULL DEFAULT '';
ALTER TABLE policy_versions ADD COLUMN loosening INTEGER NOT NULL DEFAULT 0 CHECK (loosening IN (0, 1));

CREATE TABLE policy_drafts (
    user_id    TEXT PRIMARY KEY NOT NULL REFERENCES users (id),
    base       INTEGER NOT NULL REFERENCES policy_versions (version),
    document   TEXT NOT NULL,                  -- the draft policy as JSON
    updated_at INTEGER NOT NULL
) STRICT;
