-- Sign-off eligibility from facts that predate the request: when an account's current
-- qualification began (created, role raised, enabled again, or a password it set itself
-- after someone else reset it), why, and until when a reset keeps it from signing off.
ALTER TABLE users ADD COLUMN qualified_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN qualified_by TEXT NOT NULL DEFAULT 'created'
    CHECK (qualified_by IN ('created', 'role_raised', 'enabled', 'password_reset'));
ALTER TABLE users ADD COLUMN cooling_until BIGINT;
UPDATE users SET qualified_since = created_at;
-- Account changes made before this migration restart the clock too: the newest role
-- change, enable or reset recorded in the audit log (a demotion counts, which is stricter).
UPDATE users SET
    qualified_since = (SELECT MAX(e.at) FROM audit_events e
                       WHERE e.kind IN ('user.role_changed', 'user.enabled', 'user.password_reset') AND (e.detail::jsonb ->> 'user') = users.username),
    qualified_by = (SELECT CASE e.kind WHEN 'user.role_changed' THEN 'role_raised'
                                       WHEN 'user.enabled' THEN 'enabled'
                                       ELSE 'password_reset' END
                    FROM audit_events e
                    WHERE e.kind IN ('user.role_changed', 'user.enabled', 'user.password_reset') AND (e.detail::jsonb ->> 'user') = users.username
                    ORDER BY e.id DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM audit_events e
              WHERE e.kind IN ('user.role_changed', 'user.enabled', 'user.password_reset') AND (e.detail::jsonb ->> 'user') = users.username
                AND e.at > users.created_at);
-- A reset made before it still cools off for the default day.
UPDATE users SET cooling_until = (SELECT MAX(e.at) + 86400000 FROM audit_events e
                                  WHERE e.kind = 'user.password_reset'
                                    AND (e.detail::jsonb ->> 'user') = users.username)
WHERE must_change_password = 1 OR EXISTS (SELECT 1 FROM audit_events e
              WHERE e.kind = 'user.password_reset' AND (e.detail::jsonb ->> 'user') = users.username);

-- A grant approves no call of more risk than the one it was given with: the risk classes
-- (claimed and tagged) of the giving call.
ALTER TABLE grants ADD COLUMN risk TEXT NOT NULL DEFAULT '[]';
UPDATE grants SET risk = COALESCE((SELECT c.risk FROM calls c WHERE c.id = grants.call_id), '[]');
