#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use super::*;

async fn open(dir: &Path) -> Store {
    Store::open_with(dir, StoreOptions::insecure_fast_hashing_for_tests())
        .await
        .unwrap()
}

/// Every byte the database has on disk (main file, WAL and shared memory).
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(DATABASE_FILE) {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn database_is_created_and_accounts_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let store = open(&data).await;
    assert!(data.join(DATABASE_FILE).is_file());
    let alice = store
        .add_user("alice", "Alice Liddell", "rabbit-hole")
        .await
        .unwrap();
    let meeting = store
        .create_meeting(Some(&alice.id), "tea-party", "Weekly", "{}")
        .await
        .unwrap();
    store.close().await;
    drop(store);

    let store = open(&data).await;
    assert_eq!(store.list_users().await.unwrap(), vec![alice.clone()]);
    assert_eq!(
        store.verify_password("alice", "rabbit-hole").await.unwrap(),
        alice
    );
    assert_eq!(
        store.meeting(&meeting.number).await.unwrap(),
        Some(meeting.clone())
    );
    assert!(
        store
            .verify_meeting_password(&meeting.number, "tea-party")
            .await
            .unwrap()
    );
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.add_user("amy", "Amy", "pw").await.unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(DATABASE_FILE)
        {
            let mode = entry.metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{:?}", entry.file_name());
            checked += 1;
        }
    }
    assert!(checked >= 2, "the WAL file exists too");
}

#[tokio::test]
async fn duplicate_username_is_refused_case_insensitively() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.add_user("bob", "Bob", "pw-one").await.unwrap();
    for name in ["bob", "BOB"] {
        let err = store
            .add_user(name, "Other Bob", "pw-two")
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::DuplicateUsername(_)),
            "{name}: {err:?}"
        );
    }
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    for (user, name, pw) in [
        ("", "Name", "pw"),
        ("has space", "Name", "pw"),
        ("ok", "", "pw"),
        ("ok", "Name\u{7}", "pw"),
        ("ok", "Name", ""),
    ] {
        let err = store.add_user(user, name, pw).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    }
    let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
    assert!(store.add_user("ok", "Name", &long).await.is_err());
    let err = store
        .create_meeting(None, "pw", "title", "{not json")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    let err = store
        .create_meeting(Some("no-such-user"), "pw", "title", "{}")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownUser(_)), "{err:?}");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_give_the_same_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.add_user("carol", "Carol", "correct").await.unwrap();
    let wrong = store
        .verify_password("carol", "incorrect")
        .await
        .unwrap_err();
    let unknown = store
        .verify_password("mallory", "correct")
        .await
        .unwrap_err();
    assert!(matches!(wrong, StoreError::BadCredentials));
    assert!(matches!(unknown, StoreError::BadCredentials));
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert!(store.verify_password("carol", "correct").await.is_ok());
    assert!(store.verify_password("CAROL", "correct").await.is_ok());
}

#[tokio::test]
async fn disabled_user_cannot_sign_in_and_tokens_stop_working() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let dave = store.add_user("dave", "Dave", "secret-pw").await.unwrap();
    let issued = store
        .create_token(&dave.id, b"device-key", Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        store.user_for_token(&issued.token).await.unwrap(),
        Some(dave.clone())
    );

    let disabled = store.set_user_disabled("dave", true).await.unwrap();
    assert!(disabled.disabled);
    assert!(matches!(
        store
            .verify_password("dave", "secret-pw")
            .await
            .unwrap_err(),
        StoreError::Disabled
    ));
    // A wrong password on a disabled account does not reveal that it is disabled.
    assert!(matches!(
        store.verify_password("dave", "guess").await.unwrap_err(),
        StoreError::BadCredentials
    ));
    assert_eq!(store.user_for_token(&issued.token).await.unwrap(), None);
    assert!(matches!(
        store
            .create_token(&dave.id, b"device-key", Duration::from_secs(60))
            .await
            .unwrap_err(),
        StoreError::Disabled
    ));

    // Re-enabling allows sign-in again but does not revive the old token.
    store.set_user_disabled("dave", false).await.unwrap();
    assert!(store.verify_password("dave", "secret-pw").await.is_ok());
    assert_eq!(store.user_for_token(&issued.token).await.unwrap(), None);
    assert!(matches!(
        store.set_user_disabled("nobody", true).await.unwrap_err(),
        StoreError::UnknownUser(_)
    ));
}

#[tokio::test]
async fn tokens_and_passwords_are_never_stored_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let erin = store
        .add_user("erin", "Erin", "Account-Password-42")
        .await
        .unwrap();
    let issued = store
        .create_token(&erin.id, &[7u8; 32], Duration::from_secs(3600))
        .await
        .unwrap();
    store
        .create_meeting(Some(&erin.id), "Meeting-Password-99", "Standup", "{}")
        .await
        .unwrap();
    let session = store
        .session_for_token(&issued.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.device_signature_key, vec![7u8; 32]);
    assert!(!format!("{issued:?}").contains(&issued.token));

    let bytes = database_bytes(dir.path());
    assert!(contains(&bytes, &token_hash(&issued.token)));
    assert!(!contains(&bytes, &issued.token));
    assert!(!contains(&bytes, "Account-Password-42"));
    assert!(!contains(&bytes, "Meeting-Password-99"));
    store.close().await;
    let bytes = database_bytes(dir.path());
    assert!(!contains(&bytes, &issued.token));
    assert!(!contains(&bytes, "Account-Password-42"));
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let fay = store.add_user("fay", "Fay", "pw").await.unwrap();
    let issued = store
        .create_token(&fay.id, b"key", Duration::from_secs(60))
        .await
        .unwrap();
    let now = unix_now();
    assert!(issued.expires_at >= now + 59);
    let valid = store.user_for_token_at(&issued.token, now + 30).await;
    assert_eq!(valid.unwrap(), Some(fay.clone()));
    let late = store.user_for_token_at(&issued.token, now + 61).await;
    assert_eq!(late.unwrap(), None);

    let instant = store
        .create_token(&fay.id, b"key", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(store.user_for_token(&instant.token).await.unwrap(), None);
    assert_eq!(store.purge_expired_tokens().await.unwrap(), 1);

    assert_eq!(store.user_for_token("not-a-token").await.unwrap(), None);
    assert_eq!(store.user_for_token("").await.unwrap(), None);
    assert!(store.revoke_token(&issued.token).await.unwrap());
    assert_eq!(store.user_for_token(&issued.token).await.unwrap(), None);
    assert!(!store.revoke_token(&issued.token).await.unwrap());
}

#[tokio::test]
async fn meeting_numbers_are_eleven_digits_and_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let mut seen = HashSet::new();
    for i in 0..40 {
        let meeting = store
            .create_meeting(None, "pw", &format!("m{i}"), r#"{"lobby":true}"#)
            .await
            .unwrap();
        assert_eq!(meeting.number.len(), MEETING_NUMBER_DIGITS);
        assert!(meeting.number.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(meeting.number.as_bytes()[0], b'0');
        assert!(is_meeting_number(&meeting.number));
        assert!(seen.insert(meeting.number));
    }
    assert!(!is_meeting_number("01234567890"));
    assert!(!is_meeting_number("1234567890"));
    assert!(!is_meeting_number("1234567890a"));
}

#[tokio::test]
async fn meeting_password_verification_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let meeting = store
        .create_meeting(None, "open-sesame", "会議", r#"{"auto_lock_minutes":10}"#)
        .await
        .unwrap();
    assert_eq!(meeting.host_user_id, None);
    let number = &meeting.number;
    assert!(
        store
            .verify_meeting_password(number, "open-sesame")
            .await
            .unwrap()
    );
    assert!(
        !store
            .verify_meeting_password(number, "open-sesam")
            .await
            .unwrap()
    );
    assert!(!store.verify_meeting_password(number, "").await.unwrap());
    assert!(
        !store
            .verify_meeting_password("99999999999", "open-sesame")
            .await
            .unwrap()
    );
    assert!(!store.verify_meeting_password("garbage", "x").await.unwrap());
    assert_eq!(store.meeting("garbage").await.unwrap(), None);

    let ended = store.end_meeting(number).await.unwrap();
    let ended_at = ended.ended_at.unwrap();
    assert_eq!(
        store.end_meeting(number).await.unwrap().ended_at,
        Some(ended_at)
    );
    assert_eq!(ended.title, "会議");
    assert!(matches!(
        store.end_meeting("12345678901").await.unwrap_err(),
        StoreError::UnknownMeeting(_)
    ));
}

#[tokio::test]
async fn audit_entries_are_kept_per_meeting_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let host = store
        .add_user("host", "Host", "Host-Secret-1")
        .await
        .unwrap();
    let meeting = store
        .create_meeting(Some(&host.id), "Room-Secret-2", "Board", "{}")
        .await
        .unwrap();
    let other = store
        .create_meeting(None, "Room-Secret-3", "Other", "{}")
        .await
        .unwrap();
    let number = meeting.number.as_str();
    store
        .audit(Some(number), &host.id, "meeting.create", None)
        .await
        .unwrap();
    store
        .audit(Some(number), &host.id, "meeting.lock", None)
        .await
        .unwrap();
    store
        .audit(Some(number), &host.id, "participant.expel", Some("guest-7"))
        .await
        .unwrap();
    store
        .audit(Some(&other.number), "server", "meeting.create", None)
        .await
        .unwrap();
    store
        .audit(None, "admin-cli", "user.disable", Some("host"))
        .await
        .unwrap();

    let entries = store.audit_entries(Some(number)).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["meeting.create", "meeting.lock", "participant.expel"]
    );
    assert_eq!(entries[2].target.as_deref(), Some("guest-7"));
    assert!(entries.windows(2).all(|w| w[0].id < w[1].id));
    let all = store.audit_entries(None).await.unwrap();
    assert_eq!(all.len(), 5);
    let dump = format!("{all:?}");
    for secret in ["Host-Secret-1", "Room-Secret-2", "Room-Secret-3"] {
        assert!(!dump.contains(secret));
    }
}

#[tokio::test]
async fn default_options_hash_with_argon2id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let user = store.add_user("gil", "Gil", "pw").await.unwrap();
    let phc: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
        .bind(&user.id)
        .fetch_one(&store.pool)
        .await
        .unwrap();
    let defaults = Params::default();
    let expected = format!(
        "$argon2id$v=19$m={},t={},p={}$",
        defaults.m_cost(),
        defaults.t_cost(),
        defaults.p_cost()
    );
    assert!(phc.starts_with(&expected), "{phc}");
    assert!(defaults.m_cost() >= 19 * 1024);
    // Hashes made with other parameters (e.g. by a test build) still verify.
    let cheap = Store::open_with(dir.path(), StoreOptions::insecure_fast_hashing_for_tests())
        .await
        .unwrap();
    assert_eq!(cheap.verify_password("gil", "pw").await.unwrap(), user);
}

#[tokio::test]
async fn display_names_fit_in_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let longest = "あ".repeat(MAX_NAME_BYTES / 3);
    store.add_user("hana", &longest, "pw").await.unwrap();
    let too_long = "あ".repeat(MAX_NAME_BYTES / 3 + 1);
    let err = store.add_user("ian", &too_long, "pw").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
}

/// Before the fix the server created its data directory 0755 and SQLite its file 0644.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("new").join("data");
    let store = open(&dir).await;
    store.add_user("aiko", "Aiko", "pw").await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.join(format!("{DATABASE_FILE}{suffix}"));
        assert!(file.exists(), "{}", file.display());
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    store.close().await;

    // A directory an older version left readable by others is made private.
    let loose = temp.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = open(&loose).await;
    assert_eq!(mode(&loose), 0o700);
    assert_eq!(mode(&loose.join(DATABASE_FILE)), 0o600);
    store.close().await;
}

/// Before the fix every password check ran its Argon2 at once, however many came in.
#[tokio::test]
async fn password_checks_wait_briefly_for_a_hashing_slot_then_report_busy() {
    let temp = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        hash_slots: 1,
        hash_wait: Duration::from_millis(100),
        ..StoreOptions::insecure_fast_hashing_for_tests()
    };
    let store = Store::open_with(temp.path(), options).await.unwrap();
    store.add_user("aiko", "Aiko", "pw").await.unwrap();
    let held = store.hash_slots().clone().acquire_owned().await.unwrap();
    assert!(matches!(
        store.verify_password("aiko", "pw").await,
        Err(StoreError::Busy)
    ));
    assert!(matches!(
        store.verify_meeting_password("12345678901", "pw").await,
        Err(StoreError::Busy)
    ));
    drop(held);
    assert!(store.verify_password("aiko", "pw").await.is_ok());
    assert!(default_hash_slots() >= 1 && default_hash_slots() <= MAX_DEFAULT_HASH_SLOTS);
}

const HOUR: Duration = Duration::from_secs(3600);
const MONTH: Duration = Duration::from_secs(30 * 24 * 3600);

fn rotated(outcome: RefreshOutcome) -> IssuedSession {
    match outcome {
        RefreshOutcome::Rotated(issued) => issued,
        other => panic!("expected a rotation, got {other:?}"),
    }
}

#[tokio::test]
async fn sessions_rotate_their_refresh_token_and_keep_only_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let gin = store.add_user("gin", "Gin", "pw").await.unwrap();
    let first = store
        .create_session(&gin.id, &[5u8; 32], HOUR, MONTH)
        .await
        .unwrap();
    assert!(!format!("{first:?}").contains(&first.refresh_token));
    let now = unix_now();
    assert!(first.access.expires_at <= now + 3600 && first.access.expires_at >= now + 3599);
    assert!(first.refresh_expires_at >= now + 30 * 24 * 3600 - 1);
    let session = store
        .session_for_token(&first.access.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.user, gin);
    assert!(matches!(session.key, SessionKey::Session(_)));
    assert!(store.session_alive(&session.key).await.unwrap());

    // The access token expires after an hour; the session lives on.
    let later = now + 3601;
    assert_eq!(
        store
            .user_for_token_at(&first.access.token, later)
            .await
            .unwrap(),
        None
    );
    assert!(store.session_alive_at(&session.key, later).await.unwrap());

    let second = rotated(
        store
            .refresh_session_at(&first.refresh_token, later, HOUR, MONTH)
            .await
            .unwrap(),
    );
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access.token, first.access.token);
    assert_eq!(second.device_signature_key, vec![5u8; 32]);
    assert_eq!(second.user, gin);
    // The earlier access token is revoked at once; the new one works.
    assert_eq!(
        store.user_for_token(&first.access.token).await.unwrap(),
        None
    );
    assert_eq!(
        store.user_for_token(&second.access.token).await.unwrap(),
        Some(gin.clone())
    );
    let third = rotated(
        store
            .refresh_session(&second.refresh_token, HOUR, MONTH)
            .await
            .unwrap(),
    );

    let bytes = database_bytes(dir.path());
    for secret in [
        &first.refresh_token,
        &second.refresh_token,
        &third.refresh_token,
        &third.access.token,
    ] {
        assert!(!contains(&bytes, secret));
    }
    assert!(contains(&bytes, &token_hash(&third.refresh_token)));
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let hal = store.add_user("hal", "Hal", "pw").await.unwrap();
    let first = store
        .create_session(&hal.id, &[6u8; 32], HOUR, MONTH)
        .await
        .unwrap();
    let key = store
        .session_for_token(&first.access.token)
        .await
        .unwrap()
        .unwrap()
        .key;
    // Another device's session is not touched.
    let other = store
        .create_session(&hal.id, &[7u8; 32], HOUR, MONTH)
        .await
        .unwrap();
    let second = rotated(
        store
            .refresh_session(&first.refresh_token, HOUR, MONTH)
            .await
            .unwrap(),
    );
    // A thief replays the spent token: the session ends for everyone holding it.
    let replay = store
        .refresh_session(&first.refresh_token, HOUR, MONTH)
        .await
        .unwrap();
    assert_eq!(
        replay,
        RefreshOutcome::Reused {
            user_id: hal.id.clone(),
            session: key.clone(),
        }
    );
    assert!(!store.session_alive(&key).await.unwrap());
    assert_eq!(
        store.user_for_token(&second.access.token).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .refresh_session(&second.refresh_token, HOUR, MONTH)
            .await
            .unwrap(),
        RefreshOutcome::Refused
    );
    assert_eq!(
        store.user_for_token(&other.access.token).await.unwrap(),
        Some(hal)
    );
    assert_eq!(
        store
            .refresh_session("not-a-refresh-token", HOUR, MONTH)
            .await
            .unwrap(),
        RefreshOutcome::Refused
    );
}

#[tokio::test]
async fn expired_refresh_tokens_and_disabled_accounts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let ivy = store.add_user("ivy", "Ivy", "pw").await.unwrap();
    let issued = store
        .create_session(&ivy.id, &[8u8; 32], HOUR, Duration::from_secs(60))
        .await
        .unwrap();
    let late = unix_now() + 61;
    assert_eq!(
        store
            .refresh_session_at(&issued.refresh_token, late, HOUR, MONTH)
            .await
            .unwrap(),
        RefreshOutcome::Refused
    );

    let live = store
        .create_session(&ivy.id, &[8u8; 32], HOUR, MONTH)
        .await
        .unwrap();
    let key = store
        .session_for_token(&live.access.token)
        .await
        .unwrap()
        .unwrap()
        .key;
    store.set_user_disabled("ivy", true).await.unwrap();
    assert!(!store.session_alive(&key).await.unwrap());
    assert_eq!(
        store.user_for_token(&live.access.token).await.unwrap(),
        None
    );
    store.set_user_disabled("ivy", false).await.unwrap();
    // Enabling the account again does not revive the session.
    assert_eq!(
        store
            .refresh_session(&live.refresh_token, HOUR, MONTH)
            .await
            .unwrap(),
        RefreshOutcome::Refused
    );
    assert!(!store.session_alive(&key).await.unwrap());
}

#[tokio::test]
async fn sign_out_revokes_the_session_by_either_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let jo = store.add_user("jo", "Jo", "pw").await.unwrap();
    let issued = store
        .create_session(&jo.id, &[9u8; 32], HOUR, MONTH)
        .await
        .unwrap();
    let (user_id, key) = store
        .sign_out_token(&issued.access.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user_id, jo.id);
    assert!(!store.session_alive(&key).await.unwrap());
    assert_eq!(
        store
            .refresh_session(&issued.refresh_token, HOUR, MONTH)
            .await
            .unwrap(),
        RefreshOutcome::Refused
    );
    assert_eq!(
        store.sign_out_token(&issued.access.token).await.unwrap(),
        None
    );

    let again = store
        .create_session(&jo.id, &[9u8; 32], HOUR, MONTH)
        .await
        .unwrap();
    assert!(
        store
            .sign_out_refresh_token(&again.refresh_token)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.user_for_token(&again.access.token).await.unwrap(),
        None
    );

    // A password reset ends every session too.
    let third = store
        .create_session(&jo.id, &[9u8; 32], HOUR, MONTH)
        .await
        .unwrap();
    store
        .set_user_password("jo", "a new password")
        .await
        .unwrap();
    assert_eq!(
        store.user_for_token(&third.access.token).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .refresh_session(&third.refresh_token, HOUR, MONTH)
            .await
            .unwrap(),
        RefreshOutcome::Refused
    );
}
