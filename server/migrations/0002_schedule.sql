-- Scheduled meetings: when a meeting happens, its stable iCalendar UID and SEQUENCE.
-- Title, options and the password hash stay in `meetings`; a scheduled meeting is a meeting
-- row plus one row here.

CREATE TABLE schedules (
    number           TEXT    PRIMARY KEY NOT NULL REFERENCES meetings (number) ON DELETE CASCADE,
    uid              TEXT    NOT NULL UNIQUE,
    sequence         INTEGER NOT NULL DEFAULT 0 CHECK (sequence >= 0),
    -- The `When` JSON document (local start, IANA zone, duration, weekly recurrence).
    timing           TEXT    NOT NULL,
    cancelled_at     INTEGER NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
