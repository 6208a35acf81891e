-- Reviews are bound to exactly what their reviewer was shown. An approver's edit makes a
-- new candidate of a call's arguments; approvals of earlier candidates stop counting.

-- The current candidate: 1 is the proposal; each edit adds one. While a call is pending,
-- `approved_args` holds the current candidate's arguments when it is not the proposal.
ALTER TABLE calls ADD COLUMN candidate INTEGER NOT NULL DEFAULT 1 CHECK (candidate >= 1);

-- Every edit, in order (the proposal itself is `calls.args`).
CREATE TABLE call_candidates (
    call_id    TEXT NOT NULL REFERENCES calls (id),
    version    INTEGER NOT NULL CHECK (version >= 2),
    args       TEXT NOT NULL,
    author     TEXT NOT NULL,                 -- "user:<name>"
    rule       TEXT,                          -- the rule that matched the edited arguments
    created_at INTEGER NOT NULL,
    PRIMARY KEY (call_id, version)
) STRICT;

-- One person's review of one candidate: approvals count only for the candidate they name.
CREATE TABLE reviews (
    call_id     TEXT NOT NULL REFERENCES calls (id),
    version     INTEGER NOT NULL CHECK (version >= 1),
    user_id     TEXT NOT NULL REFERENCES users (id),
    username    TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'approver', 'manager', 'admin')),
    decision    TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
    feedback    TEXT,
    shown_hash  TEXT NOT NULL,                -- hash of the arguments the reviewer was shown
    at          INTEGER NOT NULL,
    PRIMARY KEY (call_id, version, user_id)   -- the same person never counts twice per candidate
) STRICT;

-- Earlier decisions become reviews. A pending call whose arguments an approver already
-- edited gets that edit as candidate 2; only the editor's approval is of it.
INSERT INTO call_candidates (call_id, version, args, author, rule, created_at)
SELECT c.id, 2, c.approved_args,
       COALESCE((SELECT 'user:' || d.username FROM decisions d
                 WHERE d.call_id = c.id AND d.edited_args = c.approved_args
                 ORDER BY d.at DESC LIMIT 1), 'user:unknown'),
       c.rule, COALESCE(c.decided_at, c.created_at)
FROM calls c WHERE c.status = 'pending' AND c.approved_args IS NOT NULL;

UPDATE calls SET candidate = 2 WHERE status = 'pending' AND approved_args IS NOT NULL;

INSERT INTO reviews (call_id, version, user_id, username, role, decision, feedback, shown_hash, at)
SELECT d.call_id,
       CASE WHEN c.status = 'pending' AND c.approved_args IS NOT NULL
                 AND d.edited_args = c.approved_args THEN 2 ELSE 1 END,
       d.user_id, d.username, COALESCE(u.role, 'approver'), d.decision, d.feedback, '', d.at
FROM decisions d JOIN calls c ON c.id = d.call_id LEFT JOIN users u ON u.id = d.user_id;

DROP TABLE decisions;
