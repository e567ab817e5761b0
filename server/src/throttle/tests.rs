#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::*;
use crate::store::StoreOptions;

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

async fn store(dir: &tempfile::TempDir) -> Store {
    Store::open_with(dir.path(), StoreOptions::insecure_fast_hashing_for_tests())
        .await
        .unwrap()
}

fn wait_of(result: Result<(), ThrottleError>) -> Option<Duration> {
    match result {
        Ok(()) => None,
        Err(ThrottleError::Wait(wait)) => Some(wait),
        Err(e) => panic!("store failed: {e}"),
    }
}

const NOW: i64 = 1_000_000;

#[tokio::test]
async fn a_few_mistakes_are_free_then_waits_double() {
    let dir = tempfile::tempdir().unwrap();
    let throttle = GuessThrottle::new(store(&dir).await);
    let guess = Guess::join_guest(ip(1), "m");
    for _ in 0..=FREE_ATTEMPTS {
        assert_eq!(wait_of(throttle.reserve(&guess, NOW).await), None);
    }
    assert_eq!(
        wait_of(throttle.reserve(&guess, NOW).await),
        Some(Duration::from_secs(30))
    );
    let later = NOW + 31;
    assert_eq!(wait_of(throttle.reserve(&guess, later).await), None);
    assert_eq!(
        wait_of(throttle.reserve(&guess, later).await),
        Some(Duration::from_secs(60))
    );
    // Another address is not affected (the meeting's limit is not reached).
    let other = Guess::join_guest(ip(2), "m");
    assert_eq!(wait_of(throttle.reserve(&other, later).await), None);
}

/// Fails with the old check-then-count-after-the-hash throttle: every parallel attempt passed
/// the check before any was counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_attempts_are_counted_before_any_password_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let throttle = Arc::new(GuessThrottle::new(store(&dir).await));
    let attempts = (0..50).map(|n| {
        let throttle = throttle.clone();
        tokio::spawn(async move {
            let guess = Guess::sign_in(ip(1), &format!("user{n}"));
            throttle.reserve(&guess, NOW).await.is_ok()
        })
    });
    let mut passed = 0;
    for attempt in attempts {
        passed += u32::from(attempt.await.unwrap());
    }
    assert_eq!(passed, FREE_ATTEMPTS + 1);
}

/// Fails with the old throttle, whose success cleared the whole address.
#[tokio::test]
async fn success_clears_only_that_account_from_that_address() {
    let dir = tempfile::tempdir().unwrap();
    let throttle = GuessThrottle::new(store(&dir).await);
    let mallory = Guess::sign_in(ip(1), "victim");
    for _ in 0..=FREE_ATTEMPTS {
        throttle.reserve(&mallory, NOW).await.unwrap();
    }
    // Signing in to her own account does not wipe her guesses at someone else's.
    let own = Guess::sign_in(ip(1), "mallory");
    throttle.succeeded(&own).await.unwrap();
    assert!(wait_of(throttle.reserve(&mallory, NOW).await).is_some());
    assert!(wait_of(throttle.reserve(&own, NOW).await).is_some());
    // The right password for "victim" clears that pair (and the address with it, since the
    // pair was all it had).
    throttle.succeeded(&mallory).await.unwrap();
    assert_eq!(wait_of(throttle.reserve(&own, NOW).await), None);
    assert_eq!(throttle.rows().await.unwrap(), 1);
}

#[tokio::test]
async fn ipv6_addresses_are_throttled_by_their_64() {
    let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
    let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(address_key(a), address_key(b));
    assert_ne!(address_key(a), address_key(c));
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
    assert_eq!(address_key(mapped), "192.0.2.1");
    assert_eq!(address_key(IpAddr::V6(Ipv6Addr::LOCALHOST)), "0:0:0:0::/64");

    let dir = tempfile::tempdir().unwrap();
    let throttle = GuessThrottle::new(store(&dir).await);
    for n in 0..=FREE_ATTEMPTS {
        let host = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, n as u16));
        throttle
            .reserve(&Guess::join_guest(host, "m"), NOW)
            .await
            .unwrap();
    }
    assert!(
        wait_of(throttle.reserve(&Guess::join_guest(b, "m2"), NOW).await).is_some(),
        "another address in the same /64 waits"
    );
    assert_eq!(
        wait_of(throttle.reserve(&Guess::join_guest(c, "m2"), NOW).await),
        None
    );
}

/// Fails with the old in-memory throttle: a restart forgot every failure.
#[tokio::test]
async fn the_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let guess = Guess::sign_in(ip(1), "aiko");
    {
        let store = store(&dir).await;
        let throttle = GuessThrottle::new(store.clone());
        for _ in 0..=FREE_ATTEMPTS {
            throttle.reserve(&guess, NOW).await.unwrap();
        }
        store.close().await;
    }
    let throttle = GuessThrottle::new(store(&dir).await);
    assert!(wait_of(throttle.reserve(&guess, NOW + 1).await).is_some());
}

/// The meeting-wide limit counts guests only: members' failures and other meetings do not.
#[tokio::test]
async fn strangers_do_not_lock_signed_in_users_out() {
    let dir = tempfile::tempdir().unwrap();
    let throttle = GuessThrottle::new(store(&dir).await);
    for n in 0..=FREE_TARGET_ATTEMPTS {
        let _ = throttle
            .reserve(&Guess::join_guest(ip(n as u8), "target"), NOW)
            .await;
    }
    assert!(
        wait_of(
            throttle
                .reserve(&Guess::join_guest(ip(250), "target"), NOW)
                .await
        )
        .is_some(),
        "guests hit the meeting's limit"
    );
    assert_eq!(
        wait_of(
            throttle
                .reserve(&Guess::join_member(ip(1), "u1", "target"), NOW)
                .await
        ),
        None,
        "a signed-in user is throttled on its own record only"
    );
    // A member's own failures throttle that member at that address.
    let member = Guess::join_member(ip(1), "u2", "target");
    for _ in 0..=FREE_ATTEMPTS {
        throttle.reserve(&member, NOW).await.unwrap();
    }
    assert!(wait_of(throttle.reserve(&member, NOW).await).is_some());
    assert_eq!(
        wait_of(
            throttle
                .reserve(&Guess::join_member(ip(2), "u2", "target"), NOW)
                .await
        ),
        None
    );
}

#[tokio::test]
async fn cancelled_attempts_do_not_count_and_old_rows_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let throttle = GuessThrottle::with_max_rows(store(&dir).await, 10);
    let guess = Guess::sign_in(ip(1), "aiko");
    for _ in 0..20 {
        throttle.reserve(&guess, NOW).await.unwrap();
        throttle.cancel(&guess).await.unwrap();
    }
    assert_eq!(throttle.rows().await.unwrap(), 0);

    for n in 0..30u8 {
        throttle
            .reserve(
                &Guess::sign_in(ip(n), &format!("user{n}")),
                NOW + i64::from(n),
            )
            .await
            .unwrap();
    }
    assert_eq!(throttle.rows().await.unwrap(), 30);
    // A minute later the oldest beyond the cap go (29 + the new one = 11 → cut to 10 first).
    throttle
        .reserve(&Guess::sign_in(ip(200), "ben"), NOW + 61)
        .await
        .unwrap();
    assert_eq!(throttle.rows().await.unwrap(), 11);
    // An hour after their last failure every row is forgotten.
    throttle
        .reserve(
            &Guess::sign_in(ip(201), "ben"),
            NOW + 61 + FORGET_AFTER_SECS + 60,
        )
        .await
        .unwrap();
    assert_eq!(throttle.rows().await.unwrap(), 1);
}
