-- An admin can set a new password for someone; that person must change it at their next
-- sign-in before they can do anything else.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0
    CHECK (must_change_password IN (0, 1));
