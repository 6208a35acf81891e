-- Sign-off eligibility from facts that predate the request: when an account's current
-- qualification began (created, role raised, enabled again, or a password it set itself
-- after someone else reset it), why, and until when a reset keeps it from signing off.
ALTER TABLE users ADD COLUMN qualified_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN qualified_by TEXT NOT NULL DEFAULT 'created'
    CHECK (qualified_by IN ('created', 'role_raised', 'enabled', 'password_reset'));
ALTER TABLE users ADD COLUMN cooling_until INTEGER;
UPDATE users SET qualified_since = created_at;

-- A grant approves no call of more risk than the one it was given with: the risk classes
-- (claimed and tagged) of the giving call.
ALTER TABLE grants ADD COLUMN risk TEXT NOT NULL DEFAULT '[]';
UPDATE grants SET risk = COALESCE((SELECT c.risk FROM calls c WHERE c.id = grants.call_id), '[]');
