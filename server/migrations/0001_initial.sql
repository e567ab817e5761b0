-- Conclave server schema, version 1.
-- Times are Unix seconds. No column ever holds a password or a bearer token in clear:
-- passwords are argon2id PHC strings, tokens are stored as their SHA-256 (hex).

CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
    token_hash           TEXT    PRIMARY KEY NOT NULL,
    user_id              TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_signature_key BLOB    NOT NULL,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL
) STRICT;

CREATE INDEX tokens_by_user ON tokens (user_id);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);

CREATE TABLE meetings (
    number        TEXT    PRIMARY KEY NOT NULL,
    host_user_id  TEXT    NULL REFERENCES users (id) ON DELETE SET NULL,
    password_hash TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    options       TEXT    NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    ended_at      INTEGER NULL
) STRICT;

CREATE INDEX meetings_by_host ON meetings (host_user_id);

-- Who did what to which meeting. Never holds secrets (no passwords, tokens or keys).
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    meeting_number TEXT    NULL,
    actor          TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    target         TEXT    NULL
) STRICT;

CREATE INDEX audit_log_by_meeting ON audit_log (meeting_number, id);
