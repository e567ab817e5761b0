-- Password-guess throttling survives a restart. One row per (kind, who, what): the failed
-- attempts an address (or an account at an address) made on one account name or meeting.
-- An attempt is counted before its password is checked and the row is removed when the
-- password was right. Rows are pruned an hour after their last failure and their number is
-- capped (see server/src/throttle.rs). Never holds a password.
CREATE TABLE guess_failures (
    kind         TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    failures     INTEGER NOT NULL CHECK (failures > 0),
    last_failure INTEGER NOT NULL,
    PRIMARY KEY (kind, subject, target)
) STRICT;

CREATE INDEX guess_failures_by_target ON guess_failures (kind, target);
CREATE INDEX guess_failures_by_age ON guess_failures (last_failure);
