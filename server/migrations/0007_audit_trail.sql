-- The audit trail (docs/it-deployment.md): who joined and left which meeting, when and from
-- which address, every host action, sign-ins that succeeded or failed, and joins refused by
-- policy. It extends audit_log, whose earlier rows keep NULL in the new columns.
--
-- Never a password, token, key, chat or media: an account id, the display name a person
-- joined under (guests choose their own), the SHA-256 fingerprint of the device's MLS
-- signature key and the client address. Rows older than `audit_retention_days` are purged.
ALTER TABLE audit_log ADD COLUMN user_id TEXT NULL;
ALTER TABLE audit_log ADD COLUMN display_name TEXT NULL;
ALTER TABLE audit_log ADD COLUMN device TEXT NULL;
ALTER TABLE audit_log ADD COLUMN address TEXT NULL;

CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_user ON audit_log (user_id, id);
