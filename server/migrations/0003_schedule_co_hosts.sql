-- Co-hosts of a scheduled meeting: they see it in their list (read-only); only the host
-- changes or cancels it.
CREATE TABLE schedule_co_hosts (
    number  TEXT NOT NULL REFERENCES schedules (number) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (number, user_id)
) STRICT;

CREATE INDEX schedule_co_hosts_by_user ON schedule_co_hosts (user_id);
