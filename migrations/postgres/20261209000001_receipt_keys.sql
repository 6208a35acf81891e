-- Ed25519 keys that sign approval receipts. The private half is sealed with the secrets key
-- (as channel secrets are), so instances sharing a database and a secrets key sign with the
-- same keys. The newest key without `retired_at` signs; a retired key stays published in
-- the JWKS until `publish_until`, so receipts it signed still verify meanwhile.
CREATE TABLE receipt_keys (
    kid            TEXT PRIMARY KEY NOT NULL,
    created_at     BIGINT NOT NULL,
    retired_at     BIGINT,
    publish_until  BIGINT,
    public_x       TEXT NOT NULL,
    private_sealed TEXT NOT NULL
);
