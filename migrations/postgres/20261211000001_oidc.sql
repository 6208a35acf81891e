-- Sign-in with an OpenID provider. An account that signs in there is known by the
-- provider's issuer and subject (never its e-mail); it has no password here.
ALTER TABLE users ADD COLUMN oidc_issuer TEXT;
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_oidc_identity ON users (oidc_issuer, oidc_subject);

-- Sign-ins under way: one row per redirect to the provider, used once by its callback
-- (on whichever instance it lands). Only the state's SHA-256 is stored.
CREATE TABLE oidc_flows (
    state_hash    TEXT PRIMARY KEY NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_path     TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
