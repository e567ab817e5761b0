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

fn ds() -> DeliveryService {
    DeliveryService::generate("test server").unwrap()
}

/// A room with the host (signed in as "host") present and committed as participant 1.
fn hosted(options: RoomOptions, now: Instant) -> Room {
    let mut room = Room::new(
        RoomOptions {
            host_user_id: Some("host".into()),
            ..options
        },
        ds(),
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
    room.commit(pid(1), epoch, blob(), Some(blob()), ids, &[])
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

    let out = room.admit(pid(1), pid(2), None).unwrap();
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
    let out = room.commit(pid(2), room.epoch(), blob(), None, &[], &[]);
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
    let out = room.commit(pid(1), 0, blob(), None, &[], &[]);
    assert!(rejected(&out, pid(1)));
    // Forged Add of someone still in the lobby (not admitted).
    let out = room.commit(pid(1), 1, blob(), Some(blob()), &[pid(3)], &[]);
    assert!(rejected(&out, pid(1)));
    // A member who is not the committer trying to add.
    let out = room.commit(pid(2), 1, blob(), Some(blob()), &[pid(3)], &[]);
    assert!(rejected(&out, pid(2)));
    // Someone in the lobby cannot commit at all.
    let out = room.commit(pid(3), 1, blob(), None, &[], &[]);
    assert!(rejected(&out, pid(3)));
    assert_eq!(room.epoch(), 1);
    assert_eq!(room.members(), vec![pid(1), pid(2)]);

    // The first valid commit wins; the second for the same epoch is told to rebase.
    let out = room.commit(pid(1), 1, blob(), None, &[], &[]);
    assert!(to(&out, pid(1)).contains(&&ServerMessage::CommitAccepted { epoch: 1 }));
    let out = room.commit(pid(1), 1, blob(), None, &[], &[]);
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
        ds(),
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
        ds(),
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

fn proposals_to(out: &[Outgoing], id: ParticipantId) -> Vec<u64> {
    to(out, id)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::MlsProposal { epoch, .. } => Some(*epoch),
            _ => None,
        })
        .collect()
}

fn position(out: &[Outgoing], id: ParticipantId, kind: &str) -> Option<usize> {
    to(out, id).iter().position(|m| m.type_name() == kind)
}

#[test]
fn the_creator_gets_a_group_id_and_everyone_the_servers_external_sender() {
    let now = Instant::now();
    let delivery = ds();
    let mut room = Room::new(
        RoomOptions {
            host_user_id: Some("host".into()),
            ..RoomOptions::default()
        },
        delivery.clone(),
        now,
    );
    let out = room.join(pid(1), request("Host", Some("host"), 1), now);
    let ServerMessage::Admitted {
        create_group: true,
        external_sender,
        group_id: Some(group_id),
        ..
    } = to(&out, pid(1))[0]
    else {
        panic!("expected admitted with a group id");
    };
    assert_eq!(external_sender, delivery.external_sender());
    assert_eq!(group_id.len(), 16);
    conclave_e2ee::group::external_sender_from_bytes(external_sender.as_bytes()).unwrap();
    let out = room.join(pid(2), request("Aiko", None, 2), now);
    assert!(matches!(
        to(&out, pid(2))[0],
        ServerMessage::Admitted { external_sender: e, group_id: None, .. } if e == delivery.external_sender()
    ));
    assert_eq!(room.leaf_of(pid(1)), Some(0));
}

#[test]
fn a_departure_is_proposed_to_every_member_after_the_roster_and_then_committed() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    for (id, name) in [(2, "Aiko"), (3, "Ben"), (4, "Chie")] {
        room.join(pid(id), request(name, None, id as u8), now);
    }
    commit_adds(&mut room, &[pid(2)]);
    commit_adds(&mut room, &[pid(3), pid(4)]);
    let leaves: Vec<_> = (1..=4).map(|i| room.leaf_of(pid(i))).collect();
    assert_eq!(leaves, vec![Some(0), Some(1), Some(2), Some(3)]);

    let out = room.leave(pid(3));
    for member in [pid(1), pid(2), pid(4)] {
        assert_eq!(proposals_to(&out, member), vec![2], "to {member}");
        // Members see Ben gone from the roster before the proposal arrives.
        assert!(position(&out, member, "roster") < position(&out, member, "mls_proposal"));
    }
    assert!(proposals_to(&out, pid(3)).is_empty());
    assert!(
        position(&out, pid(1), "mls_proposal") < position(&out, pid(1), "remove_members"),
        "the committer holds the proposal before it is asked to commit"
    );
    assert!(to(&out, pid(1)).iter().any(|m| matches!(
        m,
        ServerMessage::RemoveMembers { epoch: 2, participants } if participants == &vec![pid(3)]
    )));
    assert_eq!(room.pending_removals(), vec![pid(3)]);
    assert_eq!(room.leaf_of(pid(3)), Some(2));

    // The committer removes Ben and adds Dai in one commit: Dai takes Ben's blank leaf.
    room.join(pid(5), request("Dai", None, 5), now);
    let out = room.commit(pid(1), 2, blob(), Some(blob()), &[pid(5)], &[pid(3)]);
    assert!(to(&out, pid(1)).contains(&&ServerMessage::CommitAccepted { epoch: 2 }));
    assert!(room.pending_removals().is_empty());
    assert_eq!(room.leaf_of(pid(3)), None);
    assert_eq!(room.leaf_of(pid(5)), Some(2));
    assert!(out.iter().all(|o| o.message.type_name() != "mls_proposal"));
}

#[test]
fn a_removal_left_out_of_the_winning_commit_is_proposed_again_for_the_new_epoch() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", None, 2), now);
    room.join(pid(3), request("Ben", None, 3), now);
    commit_adds(&mut room, &[pid(2), pid(3)]);
    // Chie's add batch goes out, then Ben leaves before the committer's commit arrives.
    let out = room.join(pid(4), request("Chie", None, 4), now);
    assert_eq!(add_batch(&out, pid(1)), Some((1, vec![pid(4)])));
    let out = room.leave(pid(3));
    assert_eq!(proposals_to(&out, pid(1)), vec![1]);

    let out = commit_adds(&mut room, &[pid(4)]);
    assert_eq!(room.epoch(), 2);
    // Everyone in epoch 2, Chie included, gets the proposal again; the committer is asked again.
    for member in [pid(1), pid(2), pid(4)] {
        assert_eq!(proposals_to(&out, member), vec![2], "to {member}");
    }
    assert!(to(&out, pid(1)).iter().any(|m| matches!(
        m,
        ServerMessage::RemoveMembers { epoch: 2, participants } if participants == &vec![pid(3)]
    )));
    assert_eq!(room.leaf_of(pid(4)), Some(3), "Ben's leaf 2 is still taken");

    let out = room.commit(pid(1), 2, blob(), None, &[], &[pid(3)]);
    assert!(to(&out, pid(1)).contains(&&ServerMessage::CommitAccepted { epoch: 2 }));
    assert!(room.pending_removals().is_empty());
    assert!(proposals_to(&out, pid(2)).is_empty());
}

#[test]
fn a_commit_may_only_remove_members_who_left() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", None, 2), now);
    commit_adds(&mut room, &[pid(2)]);
    for removed in [pid(2), pid(9)] {
        let out = room.commit(pid(1), 1, blob(), None, &[], &[removed]);
        assert!(matches!(
            to(&out, pid(1))[0],
            ServerMessage::CommitRejected { .. }
        ));
    }
    assert_eq!(room.epoch(), 1);
    assert_eq!(room.members(), vec![pid(1), pid(2)]);
}

#[test]
fn a_new_committer_takes_over_the_pending_removals() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", None, 2), now);
    room.join(pid(3), request("Ben", None, 3), now);
    room.join(pid(4), request("Chie", None, 4), now);
    commit_adds(&mut room, &[pid(2), pid(3), pid(4)]);
    room.assign_co_host(pid(1), pid(2)).unwrap();
    room.leave(pid(3));
    let out = room.leave(pid(1));
    assert_eq!(room.committer(), Some(pid(2)));
    assert!(to(&out, pid(2)).iter().any(|m| matches!(
        m,
        ServerMessage::RemoveMembers { participants, .. } if participants == &vec![pid(1), pid(3)]
    )));
    assert_eq!(proposals_to(&out, pid(4)), vec![1]);
}

/// A real MLS proposal from `member`'s leaf: its own leave.
fn self_remove_proposal(leaf_of_sender: u32) -> (conclave_e2ee::group::GroupMember, MlsBlob) {
    use conclave_e2ee::group::GroupMember;
    let mut creator = GroupMember::guest("Creator").unwrap();
    creator
        .create_group(b"room-test-group", Vec::new())
        .unwrap();
    assert_eq!(creator.own_leaf_index().unwrap(), leaf_of_sender);
    let proposal = creator.propose_leave().unwrap();
    (creator, MlsBlob::new(proposal))
}

#[test]
fn only_a_members_own_leave_or_update_is_relayed() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", None, 2), now);
    commit_adds(&mut room, &[pid(2)]);
    // The host (leaf 0) proposes its own leave: relayed to Aiko only.
    let (_creator, own_leave) = self_remove_proposal(0);
    let out = room.relay_proposal(pid(1), 1, own_leave.clone());
    // The proposal was made in epoch 0 of another group: its framing says epoch 0.
    assert_eq!(
        out.unwrap_err(),
        RoomError::BadProposal(
            "a proposal must come from the sender's own leaf, in the current epoch"
        )
    );
    let mut fresh = hosted(RoomOptions::default(), now);
    let out = fresh.relay_proposal(pid(1), 0, own_leave.clone()).unwrap();
    assert!(out.iter().all(|o| o.to != pid(1)));
    // Aiko (leaf 1) relaying the host's leaf-0 proposal as hers: refused.
    fresh.join(pid(2), request("Aiko", None, 2), now);
    let epoch = fresh.epoch();
    fresh.commit(pid(1), epoch, blob(), Some(blob()), &[pid(2)], &[]);
    assert!(matches!(
        fresh.relay_proposal(pid(2), 1, own_leave),
        Err(RoomError::StaleEpoch | RoomError::BadProposal(_))
    ));
    // Garbage and non-members.
    assert!(matches!(
        fresh.relay_proposal(pid(2), 1, blob()),
        Err(RoomError::BadProposal(_))
    ));
    assert_eq!(
        fresh.relay_proposal(pid(9), 1, blob()),
        Err(RoomError::NotAllowed)
    );
}

#[test]
fn the_host_gets_past_lock_and_lobby_and_takes_over_committing() {
    let now = Instant::now();
    let mut room = Room::new(
        RoomOptions {
            host_user_id: Some("host".into()),
            co_host_user_ids: vec!["cohost".into()],
            lobby_enabled: true,
            join_before_host: true,
            ..RoomOptions::default()
        },
        ds(),
        now,
    );
    // A guest starts the group before the host, as acting co-host.
    let out = room.join(pid(2), request("Early", None, 2), now);
    assert!(matches!(
        to(&out, pid(2))[0],
        ServerMessage::Admitted {
            role: Role::CoHost,
            create_group: true,
            ..
        }
    ));
    room.set_locked(pid(2), true).unwrap();
    // The host and the schedule's co-host are not sent to the lobby.
    let out = room.join(pid(1), request("Host", Some("host"), 1), now);
    assert!(matches!(
        to(&out, pid(1))[0],
        ServerMessage::Admitted {
            role: Role::Host,
            ..
        }
    ));
    // The acting committer is told the host's role with the Add request.
    let host_request = to(&out, pid(2))
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::AddMembers { requests, .. } => requests.first().cloned(),
            _ => None,
        })
        .unwrap();
    assert_eq!(host_request.role, Role::Host);
    let out = room.join(pid(3), request("Co", Some("cohost"), 3), now);
    assert!(matches!(
        to(&out, pid(3))[0],
        ServerMessage::Admitted {
            role: Role::CoHost,
            ..
        }
    ));
    let out = room.commit(pid(2), 0, blob(), Some(blob()), &[pid(1), pid(3)], &[]);
    assert_eq!(room.committer(), Some(pid(1)));
    assert!(to(&out, pid(2)).iter().any(|m| matches!(
        m,
        ServerMessage::RoleChanged {
            participant,
            role: Role::Guest
        } if *participant == pid(2)
    )));
    // A co-host cannot expel or demote the host, nor end the meeting.
    assert_eq!(room.expel(pid(3), pid(1)), Err(RoomError::TargetIsHost));
    assert_eq!(
        room.assign_co_host(pid(3), pid(1)),
        Err(RoomError::TargetIsHost)
    );
    assert_eq!(room.end(pid(3)).unwrap_err(), RoomError::HostOnly);
    assert!(room.end(pid(1)).is_ok());
}

#[test]
fn an_expulsion_turns_the_lobby_on_for_the_rest_of_the_session_and_is_stored() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Gus", None, 2), now);
    commit_adds(&mut room, &[pid(2)]);
    let out = room.expel(pid(1), pid(2)).unwrap();
    assert!(to(&out, pid(1)).iter().any(|m| matches!(
        m,
        ServerMessage::MeetingUpdate { meeting } if meeting.lobby_enabled && meeting.lobby_after_expulsion
    )));
    assert_eq!(room.take_new_bans(), vec![Ban::Device(vec![2; 32])]);
    assert!(room.take_new_bans().is_empty());
    // Gus comes back with a fresh key: the lobby, not the meeting.
    let out = room.join(pid(3), request("Gus", None, 3), now);
    assert!(matches!(to(&out, pid(3))[0], ServerMessage::InLobby { .. }));
    // Turning the lobby off does not undo it for this session.
    room.set_lobby(pid(1), false).unwrap();
    assert!(room.state().lobby_enabled);
}

#[test]
fn with_no_host_left_the_longest_present_member_commits_removals() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    room.join(pid(2), request("Aiko", None, 2), now);
    room.join(pid(3), request("Ben", None, 3), now);
    commit_adds(&mut room, &[pid(2), pid(3)]);
    room.leave(pid(1));
    assert_eq!(room.committer(), Some(pid(2)));
    // Aiko is not made co-host (no join before host): she only commits removals.
    assert!(!room.is_moderator(pid(2)));
    let out = room.leave(pid(3));
    assert!(to(&out, pid(2)).iter().any(|m| matches!(
        m,
        ServerMessage::RemoveMembers { participants, .. } if participants.contains(&pid(3))
    )));
}

#[test]
fn the_committer_can_send_unadded_people_back_to_the_lobby() {
    let now = Instant::now();
    let mut room = hosted(RoomOptions::default(), now);
    let out = room.join(pid(2), request("Aiko", None, 2), now);
    assert_eq!(add_batch(&out, pid(1)), Some((0, vec![pid(2)])));
    assert_eq!(
        room.return_to_lobby(pid(2), &[pid(2)]),
        Err(RoomError::NotAllowed)
    );
    let out = room.return_to_lobby(pid(1), &[pid(2)]).unwrap();
    assert!(matches!(to(&out, pid(2))[0], ServerMessage::InLobby { .. }));
    assert_eq!(room.lobby().len(), 1);
    // A signed admission travels with the next Add request.
    let out = room
        .admit(pid(1), pid(2), Some(MlsBlob::new(vec![9; 64])))
        .unwrap();
    let request = to(&out, pid(1))
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::AddMembers { requests, .. } => requests.first().cloned(),
            _ => None,
        })
        .unwrap();
    let admission = request.admission.unwrap();
    assert_eq!(admission.admitter_key.as_bytes(), &[1; 32]);
    assert_eq!(admission.signature.as_bytes(), &[9; 64]);
}

#[test]
fn a_flood_of_knocks_fills_the_lobby_only_up_to_its_bound() {
    let now = Instant::now();
    let mut room = hosted(
        RoomOptions {
            lobby_enabled: true,
            ..RoomOptions::default()
        },
        now,
    );
    for i in 0..MAX_LOBBY {
        let id = 10 + u64::try_from(i).unwrap();
        let device = u8::try_from(i % 200).unwrap().wrapping_add(2);
        let out = room.join(pid(id), request("Knocker", None, device), now);
        assert!(matches!(
            to(&out, pid(id))[0],
            ServerMessage::InLobby { .. }
        ));
    }
    let out = room.join(pid(5000), request("One more", None, 250), now);
    assert!(matches!(
        to(&out, pid(5000))[0],
        ServerMessage::Denied {
            reason: DenyReason::MeetingFull
        }
    ));
    assert_eq!(room.lobby().len(), MAX_LOBBY);
    // The host still gets in, and the lobby does not take the meeting's places.
    let out = room.join(pid(6000), request("Host again", Some("host"), 251), now);
    assert!(matches!(
        to(&out, pid(6000))[0],
        ServerMessage::Admitted { .. }
    ));
}
