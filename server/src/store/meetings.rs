//! Meetings: the second half of [`Store`](super::Store).

use rand::Rng as _;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use super::{
    MAX_OPTIONS_BYTES, MAX_PASSWORD_BYTES, MAX_TITLE_CHARS, MEETING_NUMBER_DIGITS, Store,
    StoreError, check_password, check_text, invalid, unix_now,
};

const MEETING_NUMBER_ATTEMPTS: u32 = 32;
const MEETING_NUMBER_RANGE: std::ops::RangeInclusive<u64> = 10_000_000_000..=99_999_999_999;
const MEETING_COLUMNS: &str = "number, host_user_id, title, options, created_at, ended_at";

/// A meeting, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRecord {
    /// 11 digits, first one non-zero.
    pub number: String,
    /// The hosting account; `None` for instant meetings hosted by the first joiner.
    pub host_user_id: Option<String>,
    /// Free text chosen by the host.
    pub title: String,
    /// The meeting's options as a JSON document.
    pub options_json: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; set once the meeting ended.
    pub ended_at: Option<i64>,
}

impl Store {
    // ----- meetings -------------------------------------------------------------------------

    /// Creates a meeting with a fresh random 11-digit number (first digit non-zero).
    /// `options_json` must be a JSON document; the password is stored as an argon2id hash.
    pub async fn create_meeting(
        &self,
        host_user_id: Option<&str>,
        password: &str,
        title: &str,
        options_json: &str,
    ) -> Result<MeetingRecord, StoreError> {
        check_password(password)?;
        check_text("title", title, MAX_TITLE_CHARS, true)?;
        if options_json.len() > MAX_OPTIONS_BYTES {
            return Err(invalid(
                "options",
                format!("longer than {MAX_OPTIONS_BYTES} bytes"),
            ));
        }
        serde_json::from_str::<serde_json::Value>(options_json)
            .map_err(|e| invalid("options", e.to_string()))?;
        if let Some(host) = host_user_id
            && self.user_by_id(host).await?.is_none()
        {
            return Err(StoreError::UnknownUser(host.to_owned()));
        }
        let password_hash = self.hash_secret(password).await?;
        let created_at = unix_now();
        for _ in 0..MEETING_NUMBER_ATTEMPTS {
            let number = rand::rngs::OsRng
                .gen_range(MEETING_NUMBER_RANGE)
                .to_string();
            let inserted = sqlx::query(
                "INSERT INTO meetings (number, host_user_id, password_hash, title, options, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&number)
            .bind(host_user_id)
            .bind(&password_hash)
            .bind(title)
            .bind(options_json)
            .bind(created_at)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => {
                    tracing::info!(meeting = %number, "meeting created");
                    return Ok(MeetingRecord {
                        number,
                        host_user_id: host_user_id.map(str::to_owned),
                        title: title.to_owned(),
                        options_json: options_json.to_owned(),
                        created_at,
                        ended_at: None,
                    });
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    tracing::debug!("meeting number collision, retrying");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::NoFreeMeetingNumber)
    }

    /// The meeting with this number, if any (malformed numbers are simply not found).
    pub async fn meeting(&self, number: &str) -> Result<Option<MeetingRecord>, StoreError> {
        if !is_meeting_number(number) {
            return Ok(None);
        }
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings WHERE number = ?");
        let row = sqlx::query(&sql)
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(meeting_from_row).transpose()?)
    }

    /// Whether `password` is the meeting's password. An unknown meeting gives `false` after
    /// the same amount of work. Callers throttle guesses (see `throttle`).
    pub async fn verify_meeting_password(
        &self,
        number: &str,
        password: &str,
    ) -> Result<bool, StoreError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let stored: Option<String> = if is_meeting_number(number) {
            sqlx::query_scalar("SELECT password_hash FROM meetings WHERE number = ?")
                .bind(number)
                .fetch_optional(&self.pool)
                .await?
        } else {
            None
        };
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        Ok(self.verify_secret(password, phc).await? && known)
    }

    /// Marks a meeting ended (idempotent: an ended meeting keeps its first end time).
    pub async fn end_meeting(&self, number: &str) -> Result<MeetingRecord, StoreError> {
        // A scheduled meeting outlives one session ("end for all" ends today's occurrence);
        // only cancellation ends it for good.
        sqlx::query(
            "UPDATE meetings SET ended_at = ? WHERE number = ? AND ended_at IS NULL \
             AND number NOT IN (SELECT number FROM schedules)",
        )
        .bind(unix_now())
        .bind(number)
        .execute(&self.pool)
        .await?;
        let meeting = self
            .meeting(number)
            .await?
            .ok_or_else(|| StoreError::UnknownMeeting(number.to_owned()))?;
        tracing::info!(meeting = %number, "meeting ended");
        Ok(meeting)
    }
}

fn meeting_from_row(row: &SqliteRow) -> Result<MeetingRecord, sqlx::Error> {
    Ok(MeetingRecord {
        number: row.try_get("number")?,
        host_user_id: row.try_get("host_user_id")?,
        title: row.try_get("title")?,
        options_json: row.try_get("options")?,
        created_at: row.try_get("created_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

/// Whether `number` has the shape of a meeting number (11 digits, first non-zero).
pub fn is_meeting_number(number: &str) -> bool {
    number.len() == MEETING_NUMBER_DIGITS
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0')
}
