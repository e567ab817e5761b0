//! Who may ask to join a meeting, decided before the room sees the request: whether the
//! joiner needs the password, what an unknown or ended meeting answers, whether the
//! KeyPackage's credential fits how the connection authenticated, the name it joins under
//! and the bans that keep it out. The connection layer runs the checks that need the store
//! (password, throttle, bans) in this order and answers with these refusals.

use conclave_protocol::identity::TrustState;
use conclave_protocol::{DisplayName, ErrorCode};

use super::Ban;
use crate::store::MeetingRecord;

/// The one answer for an unknown meeting number, an ended meeting (to whoever does not know
/// its password) and a wrong password, so meeting numbers cannot be probed.
pub const WRONG_NUMBER_OR_PASSWORD: &str = "wrong meeting number or password";
/// The answer, after the right password, for a meeting that has ended.
pub const MEETING_ENDED: &str = "this meeting has ended";

/// A refused join: the error code and the message the joiner sees.
pub type Refused = (ErrorCode, &'static str);

/// The meeting's host account needs no password (and is not throttled); everyone else does.
pub fn needs_password(user_id: Option<&str>, record: Option<&MeetingRecord>) -> bool {
    let host = record.and_then(|r| r.host_user_id.as_deref());
    !matches!((user_id, host), (Some(user), Some(host)) if user == host)
}

/// The meeting a joiner who passed the password check may enter. Only someone who knows the
/// password (or the host) learns that a meeting ended; an unknown number answers like a
/// wrong password.
pub fn live_meeting(record: Option<MeetingRecord>) -> Result<MeetingRecord, Refused> {
    match record {
        Some(record) if record.ended_at.is_none() => Ok(record),
        Some(_) => Err((ErrorCode::MeetingNotFound, MEETING_ENDED)),
        None => Err((ErrorCode::WrongPassword, WRONG_NUMBER_OR_PASSWORD)),
    }
}

/// The KeyPackage's credential must match how the connection authenticated: a signed-in
/// user's must be certified by this server's organization key for that account, a guest's
/// must be a guest credential. So the server's roster and the MLS roster agree.
pub fn check_credential(user_id: Option<&str>, trust: &TrustState) -> Result<(), Refused> {
    match (user_id, trust) {
        (_, TrustState::Invalid { .. }) => Err((
            ErrorCode::InvalidMls,
            "the KeyPackage's credential does not verify",
        )),
        (Some(user), TrustState::VerifiedUser { user_id, .. }) if user_id == user => Ok(()),
        (Some(_), _) => Err((
            ErrorCode::InvalidMls,
            "the KeyPackage's credential is not certified for this account",
        )),
        (None, TrustState::UnverifiedGuest { .. }) => Ok(()),
        (None, TrustState::VerifiedUser { .. }) => Err((
            ErrorCode::Unauthorized,
            "a certified credential needs its account's bearer token",
        )),
    }
}

/// A signed-in joiner appears under its account's name (when valid), a guest under the name
/// it asked for.
pub fn display_name(account_name: Option<&str>, requested: DisplayName) -> DisplayName {
    match account_name {
        Some(name) => DisplayName::new(name).unwrap_or(requested),
        None => requested,
    }
}

/// The bans that keep this joiner out: its device key and, when signed in, its account.
pub fn ban_keys(signature_key: &[u8], user_id: Option<&str>) -> Vec<Ban> {
    let mut keys = vec![Ban::Device(signature_key.to_vec())];
    if let Some(user) = user_id {
        keys.push(Ban::Account(user.to_owned()));
    }
    keys
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(host: Option<&str>, ended: bool) -> MeetingRecord {
        MeetingRecord {
            number: "12345678901".into(),
            host_user_id: host.map(str::to_owned),
            title: String::new(),
            options_json: "{}".into(),
            created_at: 0,
            ended_at: ended.then_some(1),
        }
    }

    #[test]
    fn only_the_host_account_skips_the_password() {
        let meeting = record(Some("host"), false);
        assert!(!needs_password(Some("host"), Some(&meeting)));
        assert!(needs_password(Some("guest"), Some(&meeting)));
        assert!(needs_password(None, Some(&meeting)));
        assert!(needs_password(Some("host"), None));
        assert!(needs_password(None, Some(&record(None, false))));
    }

    #[test]
    fn unknown_and_ended_meetings_answer_differently_only_after_the_password() {
        assert!(live_meeting(Some(record(None, false))).is_ok());
        assert_eq!(
            live_meeting(Some(record(None, true))).unwrap_err(),
            (ErrorCode::MeetingNotFound, MEETING_ENDED)
        );
        assert_eq!(
            live_meeting(None).unwrap_err(),
            (ErrorCode::WrongPassword, WRONG_NUMBER_OR_PASSWORD)
        );
    }

    #[test]
    fn the_credential_must_match_how_the_connection_signed_in() {
        let user = TrustState::VerifiedUser {
            user_id: "u1".into(),
            display_name: "Ann".into(),
        };
        let guest = TrustState::UnverifiedGuest {
            display_name: "Gil".into(),
        };
        assert!(check_credential(Some("u1"), &user).is_ok());
        assert_eq!(
            check_credential(Some("u2"), &user).unwrap_err().0,
            ErrorCode::InvalidMls
        );
        assert_eq!(
            check_credential(Some("u1"), &guest).unwrap_err().0,
            ErrorCode::InvalidMls
        );
        assert!(check_credential(None, &guest).is_ok());
        assert_eq!(
            check_credential(None, &user).unwrap_err().0,
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn signed_in_joiners_use_their_account_name_and_are_banned_by_account_too() {
        let asked = DisplayName::new("Asked").unwrap();
        assert_eq!(display_name(Some("Ann"), asked.clone()).as_str(), "Ann");
        assert_eq!(display_name(None, asked).as_str(), "Asked");
        assert_eq!(ban_keys(b"key", None), [Ban::Device(b"key".to_vec())]);
        assert_eq!(
            ban_keys(b"key", Some("u1")),
            [Ban::Device(b"key".to_vec()), Ban::Account("u1".into())]
        );
    }
}
