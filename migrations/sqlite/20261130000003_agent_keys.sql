-- Agent keys and webhook secrets can be rotated with a grace period during which the
-- previous one still works; admins allow callback origins per agent; last seen.

ALTER TABLE agents ADD COLUMN old_key_hash TEXT;            -- the previous key's hash, during its grace
ALTER TABLE agents ADD COLUMN old_key_until INTEGER;        -- until when (ms) it still works
ALTER TABLE agents ADD COLUMN old_webhook_secret TEXT;      -- the previous secret, during its grace
ALTER TABLE agents ADD COLUMN old_secret_until INTEGER;
ALTER TABLE agents ADD COLUMN callback_origins TEXT NOT NULL DEFAULT '[]';  -- JSON array of origins
ALTER TABLE agents ADD COLUMN last_seen_at INTEGER;         -- written at most once a minute

CREATE UNIQUE INDEX agents_old_key ON agents (old_key_hash) WHERE old_key_hash IS NOT NULL;
