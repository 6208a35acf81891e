-- Sign-in failures, counted in the database when several instances share it (each
-- instance also counts its own in memory): the rate limit then holds across instances.
CREATE TABLE sign_in_failures (
    id  INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,                -- "u:<username>" or "a:<client address>"
    at  INTEGER NOT NULL
) STRICT;
CREATE INDEX sign_in_failures_key ON sign_in_failures (key, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);
