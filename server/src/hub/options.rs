//! How the server stores a meeting's options and turns them into room settings.

use crate::room::RoomOptions;

pub use conclave_protocol::schedule::MeetingOptions;

/// How the server stores a meeting's options (JSON in the meeting record) and turns them into
/// room settings.
pub trait StoredOptions: Sized {
    /// The JSON stored with the meeting.
    fn to_json(&self) -> String;
    /// Reads stored options; unreadable JSON gives the strictest settings (lobby on,
    /// sign-in required) rather than the most open ones.
    fn from_json(json: &str) -> Self;
    /// The room options for a stored meeting.
    fn room_options(
        &self,
        host_user_id: Option<String>,
        co_host_user_ids: Vec<String>,
    ) -> RoomOptions;
}

impl StoredOptions for MeetingOptions {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    fn from_json(json: &str) -> Self {
        serde_json::from_str(json).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable meeting options; using strict defaults");
            Self {
                require_sign_in: true,
                lobby: true,
                ..Self::default()
            }
        })
    }

    fn room_options(
        &self,
        host_user_id: Option<String>,
        co_host_user_ids: Vec<String>,
    ) -> RoomOptions {
        RoomOptions {
            host_user_id,
            co_host_user_ids,
            require_sign_in: self.require_sign_in,
            lobby_enabled: self.lobby,
            auto_lock_minutes: self.auto_lock_minutes,
            join_before_host: self.join_before_host,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn meeting_options_round_trip_and_fail_closed() {
        let options = MeetingOptions {
            require_sign_in: false,
            lobby: true,
            auto_lock_minutes: Some(10),
            join_before_host: true,
            exclude_password_from_invitation: false,
        };
        assert_eq!(MeetingOptions::from_json(&options.to_json()), options);
        assert_eq!(MeetingOptions::from_json("{}"), MeetingOptions::default());
        let broken = MeetingOptions::from_json("not json");
        assert!(broken.lobby && broken.require_sign_in);
        let room = options.room_options(Some("u1".into()), Vec::new());
        assert!(room.lobby_enabled && room.join_before_host);
        assert_eq!(room.auto_lock_minutes, Some(10));
    }
}
