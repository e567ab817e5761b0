-- Short-lived access tokens with rotating refresh tokens (docs/security.md).
--
-- A sign-in opens a session: one device of one account. The session hands out access tokens
-- (rows of `tokens`, an hour by default) and, one at a time, a refresh token that buys the
-- next access token. Refresh tokens are stored only as their SHA-256 and are single use: the
-- one used is kept, marked `used_at`, so presenting it again is recognised as a reuse and
-- ends the whole session. Deleting a session (sign-out, reuse, disabled account, password
-- reset) deletes its access and refresh tokens with it.

CREATE TABLE sessions (
    id                   TEXT    PRIMARY KEY NOT NULL,
    user_id              TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_signature_key BLOB    NOT NULL,
    created_at           INTEGER NOT NULL,
    -- When the current refresh token runs out (moved forward at every refresh).
    expires_at           INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT    PRIMARY KEY NOT NULL,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- Set when it was exchanged; a used refresh token presented again revokes the session.
    used_at    INTEGER NULL
) STRICT;

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Access tokens issued before this migration have no session (NULL) and keep working until
-- they expire; their clients sign in again then.
ALTER TABLE tokens ADD COLUMN session_id TEXT NULL REFERENCES sessions (id) ON DELETE CASCADE;

CREATE INDEX tokens_by_session ON tokens (session_id);
