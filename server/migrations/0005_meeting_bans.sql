-- People a host expelled or denied: kept out for the meeting's life, across sessions and
-- server restarts. `kind` is 'account' (a user id) or 'device' (an MLS signature key, hex).
CREATE TABLE meeting_bans (
    number     TEXT NOT NULL REFERENCES meetings (number) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('account', 'device')),
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (number, kind, value)
) STRICT;
