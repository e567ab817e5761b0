//! Rules of one meeting room, driven with an injected clock.

#![allow(clippy::unwrap_used)]

use super::*;

fn pid(n: u64) -> ParticipantId {
    ParticipantId(n)
}

fn request(name: &str, user: Option<&str>, device: u8) -> JoinRequest {
    JoinRequest {
        display_name: DisplayName::new(name).unwrap(),
        user_id: user.map(str::to_string),
        signature_key: vec![device; 32],
        key_package: MlsBlob::new(vec![device; 64]),
    }
}

fn to(out: &[Outgoing], id: ParticipantId) -> Vec<&ServerMessage> {
    out.iter()
        .filter(|o| o.to == id)
        .map(|o| &o.message)
        .collect()
}

fn add_batch(out: &[Outgoing], committer: ParticipantId) -> Option<(u64, Vec<ParticipantId>)> {
    to(out, committer).into_iter().find_map(|m| match m {
        ServerMessage::AddMembers { epoch, requests } => {
            Some((*epoch, requests.iter().map(|r| r.participant).collect()))
        }
        _ => None,
    })
}

fn blob() -> MlsBlob {
    MlsBlob::new(vec![1, 2, 3])
}

/// A room with the host (signed in as "host") present and committed as participant 1.
fn hosted(options: RoomOptions, now: Instant) -> Room {
    let mut room = Room::new(
        RoomOptions {
            host_user_id: Some("host".into()),
            ..options
        },
        now,
    );
    let out = room.join(pid(1), request("Host", Some("host"), 1), now);
    assert!(matches!(
        to(&out, pid(1))[0],
        ServerMessage::Admitted {
            role: Role::Host,
            ..
        }
    ));
    assert_eq!(room.committer(), Some(pid(1)));
    room
}

/// Admits `ids` through the committer's add commit; returns the commit's output.
fn commit_adds(room: &mut Room, ids: &[ParticipantId]) -> Vec<Outgoing> {
    let epoch = room.epoch();
    room.commit(pid(1), epoch, blob(), Some(blob()), ids)
}

#[test]
fn host_and_three_participants_join_in_batched_commits() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    let out = room.join(pid(2), request("Aiko", None, 2), now);
    assert!(matches!(
        to(&out, pid(2))[0],
        ServerMessage::Admitted {
            role: Role::Guest,
            ..
        }
    ));
    assert_eq!(add_batch(&out, pid(1)), Some((0, vec![pid(2)])));

    // While that batch waits for its commit, two more arrive: no second batch yet.
    let out = room.join(pid(3), request("Ben", Some("ben"), 3), now);
    assert_eq!(add_batch(&out, pid(1)), None);
    room.join(pid(4), request("Chie", None, 4), now);

    let out = commit_adds(&mut room, &[pid(2)]);
    assert_eq!(room.epoch(), 1);
    assert!(to(&out, pid(1)).contains(&&ServerMessage::CommitAccepted { epoch: 0 }));
    assert!(
        to(&out, pid(2))
            .iter()
            .any(|m| matches!(m, ServerMessage::MlsWelcome { .. }))
    );
    // ... and the next batch holds both waiting joiners.
    assert_eq!(add_batch(&out, pid(1)), Some((1, vec![pid(3), pid(4)])));

    let out = commit_adds(&mut room, &[pid(3), pid(4)]);
    // Existing member 2 gets the commit; the new ones get the Welcome.
    assert!(
        to(&out, pid(2))
            .iter()
            .any(|m| matches!(m, ServerMessage::MlsCommit { epoch: 1, .. }))
    );
    assert!(
        to(&out, pid(3))
            .iter()
            .any(|m| matches!(m, ServerMessage::MlsWelcome { .. }))
    );
    assert_eq!(room.members(), vec![pid(1), pid(2), pid(3), pid(4)]);
    let roster = to(&out, pid(4)).into_iter().find_map(|m| match m {
        ServerMessage::Roster { participants } => Some(participants.clone()),
        _ => None,
    });
    let roster = roster.unwrap();
    assert_eq!(roster.len(), 4);
    assert!(
        roster
            .iter()
            .any(|e| e.participant == pid(3) && e.signed_in)
    );
}

#[test]
fn locked_meeting_sends_newcomers_to_the_lobby_and_the_host_decides() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.set_locked(pid(1), true).unwrap();

    let out = room.join(pid(2), request("Aiko", Some("aiko"), 2), now);
    assert_eq!(
        to(&out, pid(2)),
        vec![&ServerMessage::InLobby {
            participant: pid(2)
        }]
    );
    let knock = to(&out, pid(1));
    assert!(matches!(
        knock[0],
        ServerMessage::Knock { entry } if entry.display_name.as_str() == "Aiko" && entry.signed_in
    ));
    assert_eq!(
        add_batch(&out, pid(1)),
        None,
        "nobody is added while waiting"
    );

    let out = room.admit(pid(1), pid(2)).unwrap();
    assert!(matches!(
        to(&out, pid(2))[0],
        ServerMessage::Admitted { .. }
    ));
    assert_eq!(add_batch(&out, pid(1)), Some((0, vec![pid(2)])));

    let out = room.join(pid(3), request("Stranger", None, 3), now);
    assert!(matches!(
        to(&out, pid(1))[0],
        ServerMessage::Knock { entry } if !entry.signed_in
    ));
    let out = room
        .deny(pid(1), pid(3), Some(Reason::new("not invited").unwrap()))
        .unwrap();
    let denial = out.iter().find(|o| o.to == pid(3)).unwrap();
    assert!(denial.close);
    assert!(matches!(
        &denial.message,
        ServerMessage::Denied { reason: DenyReason::DeniedByHost { reason: Some(r) } } if r.as_str() == "not invited"
    ));
    // The denied device cannot knock again.
    let out = room.join(pid(9), request("Stranger", None, 3), now);
    assert!(matches!(
        to(&out, pid(9))[0],
        ServerMessage::Denied {
            reason: DenyReason::Expelled
        }
    ));
}

#[test]
fn auto_lock_locks_after_the_configured_minutes() {
    let start = Instant::now();
    let mut room = hosted(
        RoomOptions {
            auto_lock_minutes: Some(5),
            ..RoomOptions::default()
        },
        start,
    );
    let out = room.join(
        pid(2),
        request("Early", None, 2),
        start + Duration::from_secs(60),
    );
    assert!(matches!(
        to(&out, pid(2))[0],
        ServerMessage::Admitted { .. }
    ));
    assert!(!room.state().locked);

    let later = start + Duration::from_secs(5 * 60);
    let out = room.tick(later);
    assert!(room.state().locked);
    assert!(
        out.iter().any(
            |o| matches!(&o.message, ServerMessage::MeetingUpdate { meeting } if meeting.locked)
        )
    );
    let out = room.join(
        pid(3),
        request("Late", None, 3),
        later + Duration::from_secs(1),
    );
    assert!(matches!(to(&out, pid(3))[0], ServerMessage::InLobby { .. }));
}

#[test]
fn expel_removes_rekeys_and_keeps_them_out() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", Some("aiko"), 2), now);
    room.join(pid(3), request("Mallory", Some("mallory"), 3), now);
    commit_adds(&mut room, &[pid(2)]);
    commit_adds(&mut room, &[pid(3)]);

    let out = room.expel(pid(1), pid(3)).unwrap();
    let notice = out.iter().find(|o| o.to == pid(3)).unwrap();
    assert!(notice.close && matches!(notice.message, ServerMessage::Expelled { .. }));
    assert!(to(&out, pid(1)).iter().any(|m| matches!(
        m,
        ServerMessage::RemoveMembers { participants, .. } if participants == &vec![pid(3)]
    )));
    assert_eq!(room.members(), vec![pid(1), pid(2)]);

    // Back with the same account on a new device, or the same device as a guest: refused.
    for (id, again) in [
        (10, request("Mallory", Some("mallory"), 99)),
        (11, request("M.", None, 3)),
    ] {
        let out = room.join(pid(id), again, now);
        assert!(matches!(
            to(&out, pid(id))[0],
            ServerMessage::Denied {
                reason: DenyReason::Expelled
            }
        ));
    }
}

#[test]
fn expel_unverified_removes_exactly_the_guests() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", Some("aiko"), 2), now);
    room.join(pid(3), request("Guest A", None, 3), now);
    room.join(pid(4), request("Guest B", None, 4), now);
    commit_adds(&mut room, &[pid(2), pid(3), pid(4)]);
    let out = room.expel_unverified(pid(1)).unwrap();
    let expelled: BTreeSet<ParticipantId> = out
        .iter()
        .filter(|o| matches!(o.message, ServerMessage::Expelled { .. }))
        .map(|o| o.to)
        .collect();
    assert_eq!(expelled, BTreeSet::from([pid(3), pid(4)]));
    assert_eq!(room.members(), vec![pid(1), pid(2)]);
}

#[test]
fn require_sign_in_refuses_guests_and_admits_users() {
    let now = Instant::now();
    let mut room = hosted(
        RoomOptions {
            require_sign_in: true,
            ..RoomOptions::default()
        },
        now,
    );
    let out = room.join(pid(2), request("Guest", None, 2), now);
    assert!(matches!(
        to(&out, pid(2))[0],
        ServerMessage::Denied {
            reason: DenyReason::SignInRequired
        }
    ));
    let out = room.join(pid(3), request("Aiko", Some("aiko"), 3), now);
    assert!(matches!(
        to(&out, pid(3))[0],
        ServerMessage::Admitted {
            role: Role::Participant,
            ..
        }
    ));
}

#[test]
fn only_moderators_use_host_controls() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", None, 2), now);
    commit_adds(&mut room, &[pid(2)]);
    assert_eq!(room.set_locked(pid(2), true), Err(RoomError::NotAllowed));
    assert_eq!(room.expel(pid(2), pid(1)), Err(RoomError::NotAllowed));
    assert_eq!(room.end(pid(2)), Err(RoomError::NotAllowed));
    assert_eq!(room.expel_unverified(pid(2)), Err(RoomError::NotAllowed));

    // Once co-host, Aiko may lock, but still may not commit (the host commits).
    room.assign_co_host(pid(1), pid(2)).unwrap();
    assert!(room.set_locked(pid(2), true).is_ok());
    let out = room.commit(pid(2), room.epoch(), blob(), None, &[]);
    assert!(matches!(
        to(&out, pid(2))[0],
        ServerMessage::CommitRejected { .. }
    ));
}

#[test]
fn stale_forged_and_foreign_commits_are_rejected_without_effect() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", None, 2), now);
    commit_adds(&mut room, &[pid(2)]);
    room.set_locked(pid(1), true).unwrap();
    room.join(pid(3), request("Waiting", None, 3), now);

    let rejected = |out: &[Outgoing], who| {
        matches!(
            to(out, who).first(),
            Some(ServerMessage::CommitRejected {
                current_epoch: 1,
                ..
            })
        )
    };
    // Stale epoch.
    let out = room.commit(pid(1), 0, blob(), None, &[]);
    assert!(rejected(&out, pid(1)));
    // Forged Add of someone still in the lobby (not admitted).
    let out = room.commit(pid(1), 1, blob(), Some(blob()), &[pid(3)]);
    assert!(rejected(&out, pid(1)));
    // A member who is not the committer trying to add.
    let out = room.commit(pid(2), 1, blob(), Some(blob()), &[pid(3)]);
    assert!(rejected(&out, pid(2)));
    // Someone in the lobby cannot commit at all.
    let out = room.commit(pid(3), 1, blob(), None, &[]);
    assert!(rejected(&out, pid(3)));
    assert_eq!(room.epoch(), 1);
    assert_eq!(room.members(), vec![pid(1), pid(2)]);

    // The first valid commit wins; the second for the same epoch is told to rebase.
    let out = room.commit(pid(1), 1, blob(), None, &[]);
    assert!(to(&out, pid(1)).contains(&&ServerMessage::CommitAccepted { epoch: 1 }));
    let out = room.commit(pid(1), 1, blob(), None, &[]);
    assert!(matches!(
        to(&out, pid(1))[0],
        ServerMessage::CommitRejected {
            current_epoch: 2,
            ..
        }
    ));
}

#[test]
fn participants_wait_for_the_host_unless_join_before_host() {
    let now = Instant::now();
    let mut room = Room::new(
        RoomOptions {
            host_user_id: Some("host".into()),
            ..RoomOptions::default()
        },
        now,
    );
    let out = room.join(pid(2), request("Early", None, 2), now);
    assert!(matches!(to(&out, pid(2))[0], ServerMessage::InLobby { .. }));
    let out = room.join(pid(1), request("Host", Some("host"), 1), now);
    assert!(to(&out, pid(1)).iter().any(|m| matches!(
        m,
        ServerMessage::Lobby { entries } if entries.len() == 1
    )));

    let mut open = Room::new(
        RoomOptions {
            host_user_id: Some("host".into()),
            join_before_host: true,
            ..RoomOptions::default()
        },
        now,
    );
    open.join(pid(2), request("Early", None, 2), now);
    assert_eq!(
        open.committer(),
        Some(pid(2)),
        "acting committer until the host comes"
    );
}

#[test]
fn committer_leaving_hands_over_to_a_co_host() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", None, 2), now);
    room.join(pid(3), request("Ben", None, 3), now);
    commit_adds(&mut room, &[pid(2), pid(3)]);
    room.assign_co_host(pid(1), pid(2)).unwrap();
    let out = room.leave(pid(1));
    assert_eq!(room.committer(), Some(pid(2)));
    assert!(to(&out, pid(2)).iter().any(|m| matches!(
        m,
        ServerMessage::RemoveMembers { participants, .. } if participants == &vec![pid(1)]
    )));
}

#[test]
fn ending_the_meeting_tells_everyone_and_refuses_newcomers() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", None, 2), now);
    let out = room.end(pid(1)).unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| o.close
        && o.message
            == ServerMessage::MeetingEnded {
                reason: EndReason::EndedByHost
            }));
    let out = room.join(pid(5), request("Late", None, 5), now);
    assert!(matches!(
        to(&out, pid(5))[0],
        ServerMessage::Denied {
            reason: DenyReason::MeetingEnded
        }
    ));
}
