-- The store runs on PostgreSQL's own driver now (no longer through sqlx's `Any`, which
-- carried only what both backends share): the 0/1 flags become BOOLEAN, and their
-- CHECK (x IN (0, 1)) constraints go with the integers. SQLite keeps its INTEGER flags
-- (a STRICT table has no BOOLEAN); both read and bind as `bool`.
ALTER TABLE users DROP CONSTRAINT users_disabled_check,
    DROP CONSTRAINT users_must_change_password_check,
    ALTER COLUMN disabled DROP DEFAULT,
    ALTER COLUMN disabled TYPE BOOLEAN USING disabled <> 0,
    ALTER COLUMN disabled SET DEFAULT FALSE,
    ALTER COLUMN must_change_password DROP DEFAULT,
    ALTER COLUMN must_change_password TYPE BOOLEAN USING must_change_password <> 0,
    ALTER COLUMN must_change_password SET DEFAULT FALSE;

ALTER TABLE agents DROP CONSTRAINT agents_disabled_check,
    DROP CONSTRAINT agents_receipts_always_check,
    ALTER COLUMN disabled DROP DEFAULT,
    ALTER COLUMN disabled TYPE BOOLEAN USING disabled <> 0,
    ALTER COLUMN disabled SET DEFAULT FALSE,
    ALTER COLUMN receipts_always DROP DEFAULT,
    ALTER COLUMN receipts_always TYPE BOOLEAN USING receipts_always <> 0,
    ALTER COLUMN receipts_always SET DEFAULT FALSE;

ALTER TABLE policy_versions DROP CONSTRAINT policy_versions_loosening_check,
    ALTER COLUMN loosening DROP DEFAULT,
    ALTER COLUMN loosening TYPE BOOLEAN USING loosening <> 0,
    ALTER COLUMN loosening SET DEFAULT FALSE;

ALTER TABLE bypasses DROP CONSTRAINT bypasses_include_confirmation_check,
    ALTER COLUMN include_confirmation TYPE BOOLEAN USING include_confirmation <> 0;

ALTER TABLE calls DROP CONSTRAINT calls_retry_check,
    DROP CONSTRAINT calls_wants_receipt_check,
    ALTER COLUMN retry TYPE BOOLEAN USING retry <> 0,
    ALTER COLUMN wants_receipt DROP DEFAULT,
    ALTER COLUMN wants_receipt TYPE BOOLEAN USING wants_receipt <> 0,
    ALTER COLUMN wants_receipt SET DEFAULT FALSE;

ALTER TABLE notify_channels DROP CONSTRAINT notify_channels_private_check,
    DROP CONSTRAINT notify_channels_enabled_check,
    ALTER COLUMN private DROP DEFAULT,
    ALTER COLUMN private TYPE BOOLEAN USING private <> 0,
    ALTER COLUMN private SET DEFAULT FALSE,
    ALTER COLUMN enabled DROP DEFAULT,
    ALTER COLUMN enabled TYPE BOOLEAN USING enabled <> 0,
    ALTER COLUMN enabled SET DEFAULT TRUE;
