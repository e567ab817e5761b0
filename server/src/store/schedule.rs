//! Scheduled meetings: a meeting row plus its timing, iCalendar UID and SEQUENCE. Another
//! `impl Store` block of [`Store`](super::Store).
//!
//! Updates are patches applied inside one `BEGIN IMMEDIATE` transaction, so two hosts editing
//! different fields at the same moment both keep their edits and every update gets its own
//! SEQUENCE number; `if_sequence` turns an update into a compare-and-set.

use rand::RngCore as _;
use sqlx::Row as _;

use super::{
    MAX_OPTIONS_BYTES, MAX_TITLE_CHARS, MeetingRecord, Store, StoreError, check_password,
    check_text, invalid, is_meeting_number, unix_now,
};

/// A scheduled meeting as stored: the meeting, its `When` JSON, UID and SEQUENCE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    pub meeting: MeetingRecord,
    /// Stable iCalendar UID.
    pub uid: String,
    /// iCalendar SEQUENCE: 0 at first, +1 on every update and on cancellation.
    pub sequence: u32,
    /// The `conclave_protocol::schedule::When` document.
    pub timing_json: String,
    /// Unix seconds; set once cancelled.
    pub cancelled_at: Option<i64>,
    /// Accounts that see the meeting as co-hosts.
    pub co_host_ids: Vec<String>,
}

/// A checked patch for [`Store::update_schedule`]. `None` fields stay as they are.
#[derive(Default)]
pub struct SchedulePatch {
    pub title: Option<String>,
    pub timing_json: Option<String>,
    /// A JSON object merged into the stored options (RFC 7396 merge patch).
    pub options_patch_json: Option<String>,
    /// A new clear password (already checked against the organization's policy).
    pub password: Option<String>,
    /// Replaces the co-hosts (account ids).
    pub co_host_ids: Option<Vec<String>>,
    pub if_sequence: Option<u32>,
}

impl std::fmt::Debug for SchedulePatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulePatch")
            .field("title", &self.title)
            .field("timing_json", &self.timing_json)
            .field("options_patch_json", &self.options_patch_json)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("if_sequence", &self.if_sequence)
            .finish()
    }
}

const SCHEDULE_COLUMNS: &str = "m.number, m.host_user_id, m.title, m.options, m.created_at, \
     m.ended_at, s.uid, s.sequence, s.timing, s.cancelled_at";

fn check_json(field: &'static str, json: &str) -> Result<(), StoreError> {
    if json.len() > MAX_OPTIONS_BYTES {
        return Err(invalid(
            field,
            format!("longer than {MAX_OPTIONS_BYTES} bytes"),
        ));
    }
    serde_json::from_str::<serde_json::Value>(json).map_err(|e| invalid(field, e.to_string()))?;
    Ok(())
}

fn new_uid() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{}@conclave", hex::encode(bytes))
}

impl Store {
    /// Schedules a meeting hosted by `host_user_id`: a new meeting (fresh number, hashed
    /// password) and its timing, with a new UID and SEQUENCE 0.
    pub async fn schedule_meeting(
        &self,
        host_user_id: &str,
        password: &str,
        title: &str,
        options_json: &str,
        timing_json: &str,
        co_host_ids: &[String],
    ) -> Result<ScheduleRecord, StoreError> {
        check_json("timing", timing_json)?;
        let meeting = self
            .create_meeting(Some(host_user_id), password, title, options_json)
            .await?;
        let uid = new_uid();
        let inserted = sqlx::query(
            "INSERT INTO schedules (number, uid, sequence, timing, updated_at) \
             VALUES (?, ?, 0, ?, ?)",
        )
        .bind(&meeting.number)
        .bind(&uid)
        .bind(timing_json)
        .bind(unix_now())
        .execute(&self.pool)
        .await;
        let inserted = match inserted {
            Ok(_) => self.set_co_hosts(&meeting.number, co_host_ids).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = inserted {
            // Do not leave a meeting without its schedule behind.
            let _ = sqlx::query("DELETE FROM meetings WHERE number = ?")
                .bind(&meeting.number)
                .execute(&self.pool)
                .await;
            return Err(e);
        }
        Ok(ScheduleRecord {
            meeting,
            uid,
            sequence: 0,
            timing_json: timing_json.to_owned(),
            cancelled_at: None,
            co_host_ids: co_host_ids.to_vec(),
        })
    }

    async fn set_co_hosts(&self, number: &str, co_host_ids: &[String]) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        replace_co_hosts(&mut tx, number, co_host_ids).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A scheduled meeting `viewer` hosts or co-hosts; `None` for anyone else.
    pub async fn visible_schedule(
        &self,
        number: &str,
        viewer: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        if !is_meeting_number(number) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM meetings m JOIN schedules s ON s.number = m.number \
             WHERE m.number = ? AND (m.host_user_id = ? OR EXISTS (SELECT 1 FROM \
             schedule_co_hosts c WHERE c.number = m.number AND c.user_id = ?))"
        );
        let row = sqlx::query(&sql)
            .bind(number)
            .bind(viewer)
            .bind(viewer)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.with_co_hosts(schedule_from_row(&row)?).await?)),
            None => Ok(None),
        }
    }

    async fn with_co_hosts(
        &self,
        mut record: ScheduleRecord,
    ) -> Result<ScheduleRecord, StoreError> {
        record.co_host_ids = sqlx::query_scalar(
            "SELECT user_id FROM schedule_co_hosts WHERE number = ? ORDER BY user_id",
        )
        .bind(&record.meeting.number)
        .fetch_all(&self.pool)
        .await?;
        Ok(record)
    }

    /// One scheduled meeting, if it exists and `host_user_id` hosts it. Others' meetings are
    /// reported as not found, so nobody can probe which numbers exist.
    pub async fn scheduled_meeting(
        &self,
        number: &str,
        host_user_id: &str,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        if !is_meeting_number(number) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM meetings m JOIN schedules s ON s.number = m.number \
             WHERE m.number = ? AND m.host_user_id = ?"
        );
        let row = sqlx::query(&sql)
            .bind(number)
            .bind(host_user_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.with_co_hosts(schedule_from_row(&row)?).await?)),
            None => Ok(None),
        }
    }

    /// Every scheduled meeting `viewer` hosts or co-hosts, cancelled ones included, oldest
    /// first.
    pub async fn scheduled_meetings_of(
        &self,
        viewer: &str,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM meetings m JOIN schedules s ON s.number = m.number \
             WHERE m.host_user_id = ? OR EXISTS (SELECT 1 FROM schedule_co_hosts c \
             WHERE c.number = m.number AND c.user_id = ?) ORDER BY m.created_at, m.number"
        );
        let rows = sqlx::query(&sql)
            .bind(viewer)
            .bind(viewer)
            .fetch_all(&self.pool)
            .await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            records.push(self.with_co_hosts(schedule_from_row(row)?).await?);
        }
        Ok(records)
    }

    /// Applies `patch` to a scheduled meeting of `host_user_id` and bumps its SEQUENCE, all in
    /// one write transaction.
    pub async fn update_schedule(
        &self,
        number: &str,
        host_user_id: &str,
        patch: SchedulePatch,
    ) -> Result<ScheduleRecord, StoreError> {
        if let Some(title) = &patch.title {
            check_text("title", title, MAX_TITLE_CHARS, false)?;
        }
        if let Some(timing) = &patch.timing_json {
            check_json("timing", timing)?;
        }
        if let Some(options) = &patch.options_patch_json {
            check_json("options", options)?;
        }
        let password_hash = match &patch.password {
            Some(password) => {
                check_password(password)?;
                Some(self.hash_secret(password).await?)
            }
            None => None,
        };
        let mut tx = self.write_transaction().await?;
        let current: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT s.sequence, s.cancelled_at FROM schedules s JOIN meetings m \
             ON m.number = s.number WHERE s.number = ? AND m.host_user_id = ?",
        )
        .bind(number)
        .bind(host_user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((sequence, cancelled_at)) = current else {
            return Err(StoreError::UnknownMeeting(number.to_owned()));
        };
        let sequence = u32::try_from(sequence).unwrap_or(u32::MAX);
        if cancelled_at.is_some() {
            return Err(StoreError::Cancelled(number.to_owned()));
        }
        if let Some(expected) = patch.if_sequence
            && expected != sequence
        {
            return Err(StoreError::Conflict { current: sequence });
        }
        sqlx::query(
            "UPDATE meetings SET title = COALESCE(?, title), \
             options = CASE WHEN ? IS NULL THEN options ELSE json_patch(options, ?) END, \
             password_hash = COALESCE(?, password_hash) WHERE number = ?",
        )
        .bind(&patch.title)
        .bind(&patch.options_patch_json)
        .bind(&patch.options_patch_json)
        .bind(&password_hash)
        .bind(number)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE schedules SET sequence = sequence + 1, timing = COALESCE(?, timing), \
             updated_at = ? WHERE number = ?",
        )
        .bind(&patch.timing_json)
        .bind(unix_now())
        .bind(number)
        .execute(&mut *tx)
        .await?;
        if let Some(co_hosts) = &patch.co_host_ids {
            replace_co_hosts(&mut tx, number, co_hosts).await?;
        }
        // Read back inside the transaction, so the answer shows this update's own SEQUENCE
        // and not a later concurrent one's.
        let record = read_in(&mut tx, number).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Cancels a scheduled meeting: SEQUENCE +1, and the meeting ends so joins are refused.
    /// Cancelling twice is refused (the invitees already have the cancellation).
    pub async fn cancel_schedule(
        &self,
        number: &str,
        host_user_id: &str,
    ) -> Result<ScheduleRecord, StoreError> {
        let now = unix_now();
        let mut tx = self.write_transaction().await?;
        let updated = sqlx::query(
            "UPDATE schedules SET sequence = sequence + 1, cancelled_at = ?, updated_at = ? \
             WHERE number = ? AND cancelled_at IS NULL AND number IN \
             (SELECT number FROM meetings WHERE host_user_id = ?)",
        )
        .bind(now)
        .bind(now)
        .bind(number)
        .bind(host_user_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            drop(tx);
            return match self.scheduled_meeting(number, host_user_id).await? {
                Some(_) => Err(StoreError::Cancelled(number.to_owned())),
                None => Err(StoreError::UnknownMeeting(number.to_owned())),
            };
        }
        sqlx::query("UPDATE meetings SET ended_at = COALESCE(ended_at, ?) WHERE number = ?")
            .bind(now)
            .bind(number)
            .execute(&mut *tx)
            .await?;
        let record = read_in(&mut tx, number).await?;
        tx.commit().await?;
        tracing::info!(meeting = %number, "scheduled meeting cancelled");
        Ok(record)
    }
}

async fn replace_co_hosts(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    number: &str,
    co_host_ids: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM schedule_co_hosts WHERE number = ?")
        .bind(number)
        .execute(&mut **tx)
        .await?;
    for user_id in co_host_ids {
        sqlx::query("INSERT OR IGNORE INTO schedule_co_hosts (number, user_id) VALUES (?, ?)")
            .bind(number)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn read_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    number: &str,
) -> Result<ScheduleRecord, StoreError> {
    let sql = format!(
        "SELECT {SCHEDULE_COLUMNS} FROM meetings m JOIN schedules s ON s.number = m.number \
         WHERE m.number = ?"
    );
    let row = sqlx::query(&sql)
        .bind(number)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::UnknownMeeting(number.to_owned()))?;
    let mut record = schedule_from_row(&row)?;
    record.co_host_ids = sqlx::query_scalar(
        "SELECT user_id FROM schedule_co_hosts WHERE number = ? ORDER BY user_id",
    )
    .bind(number)
    .fetch_all(&mut **tx)
    .await?;
    Ok(record)
}

fn schedule_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ScheduleRecord, sqlx::Error> {
    let sequence: i64 = row.try_get("sequence")?;
    Ok(ScheduleRecord {
        meeting: MeetingRecord {
            number: row.try_get("number")?,
            host_user_id: row.try_get("host_user_id")?,
            title: row.try_get("title")?,
            options_json: row.try_get("options")?,
            created_at: row.try_get("created_at")?,
            ended_at: row.try_get("ended_at")?,
        },
        uid: row.try_get("uid")?,
        sequence: u32::try_from(sequence).unwrap_or(u32::MAX),
        timing_json: row.try_get("timing")?,
        cancelled_at: row.try_get("cancelled_at")?,
        co_host_ids: Vec::new(),
    })
}
