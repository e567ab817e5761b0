//! End-to-end encryption across several members: MLS membership driving SFrame keys, and the
//! verification code that proves members share the same group state.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use conclave_e2ee::group::{
    ExternalSenderKey, GroupError, GroupMember, Incoming, OutgoingCommit, validate_key_package,
};
use conclave_e2ee::media_keys::{MediaError, MediaKeyConfig, MediaReceiver, MediaSender};
use conclave_protocol::identity::{CredentialPayload, OrgSigningKey, TrustState};

const NOW: u64 = 1_800_000_000;

/// A meeting run in memory: index 0 is the host (the committer).
struct Meeting {
    members: Vec<GroupMember>,
}

impl Meeting {
    fn start(names: &[&str]) -> Self {
        let mut host = GroupMember::guest(names[0]).unwrap();
        host.create_group(b"meeting-123456789", Vec::new()).unwrap();
        let mut meeting = Meeting {
            members: vec![host],
        };
        let joiners = names[1..]
            .iter()
            .map(|n| GroupMember::guest(n).unwrap())
            .collect();
        meeting.admit(joiners);
        meeting
    }

    /// The host commits the joiners' KeyPackages in one batch; everyone processes it.
    fn admit(&mut self, mut joiners: Vec<GroupMember>) {
        let key_packages = joiners
            .iter()
            .map(|j| validate_key_package(&j.key_package().unwrap(), None, NOW).unwrap())
            .collect();
        let outgoing = self.members[0].commit(key_packages, &[]).unwrap();
        self.fan_out(&outgoing, &[]);
        let welcome = outgoing.welcome.expect("adds produce a Welcome");
        for joiner in &mut joiners {
            joiner.join(&welcome).unwrap();
        }
        self.members.extend(joiners);
    }

    /// The host confirms its commit and every other member (except `skip`) processes it.
    fn fan_out(&mut self, outgoing: &OutgoingCommit, skip: &[usize]) {
        self.members[0].confirm_commit().unwrap();
        for (i, member) in self.members.iter_mut().enumerate().skip(1) {
            if skip.contains(&i) {
                continue;
            }
            match member.process(&outgoing.commit).unwrap() {
                Incoming::Commit(_) => {}
                other => panic!("expected a commit, got {other:?}"),
            }
        }
    }

    fn codes(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| m.in_group())
            .map(|m| m.verification_code().unwrap().to_string())
            .collect()
    }

    fn leaf(&self, i: usize) -> u32 {
        self.members[i].own_leaf_index().unwrap()
    }
}

fn all_equal(codes: &[String]) -> bool {
    codes.windows(2).all(|w| w[0] == w[1])
}

#[test]
fn members_share_codes_and_every_commit_changes_them() {
    let mut meeting = Meeting::start(&["Host", "Aiko", "Ben"]);
    assert_eq!(meeting.members.len(), 3);
    let first = meeting.codes();
    assert!(all_equal(&first), "codes differ: {first:?}");
    let epoch = meeting.members[0].epoch().unwrap();
    for m in &meeting.members {
        assert_eq!(m.verification_code().unwrap().epoch(), epoch);
    }

    meeting.admit(vec![GroupMember::guest("Chie").unwrap()]);
    let after_add = meeting.codes();
    assert_eq!(after_add.len(), 4);
    assert!(all_equal(&after_add));
    assert_ne!(after_add[0], first[0], "an add must change the code");

    let rekey = meeting.members[0].rekey().unwrap();
    meeting.fan_out(&rekey, &[]);
    let after_rekey = meeting.codes();
    assert!(all_equal(&after_rekey));
    assert_ne!(after_rekey[0], after_add[0], "a rekey must change the code");

    let ben = meeting.leaf(2);
    let remove = meeting.members[0].commit(Vec::new(), &[ben]).unwrap();
    meeting.fan_out(&remove, &[2]);
    meeting.members.remove(2);
    let after_remove = meeting.codes();
    assert_eq!(after_remove.len(), 3);
    assert!(all_equal(&after_remove));
    assert_ne!(
        after_remove[0], after_rekey[0],
        "a removal must change the code"
    );
}

#[test]
fn a_member_with_diverged_state_shows_a_different_code() {
    let mut meeting = Meeting::start(&["Host", "CoHost", "Ben"]);
    meeting
        .members
        .iter_mut()
        .for_each(|m| m.set_committers([0, 1]));
    // Two commits race from the same epoch. Ben wrongly applies the co-host's while the host
    // applies its own: both reach the same epoch number with different group states.
    let host_commit = meeting.members[0].rekey().unwrap();
    let cohost_commit = meeting.members[1].rekey().unwrap();
    meeting.members[0].confirm_commit().unwrap();
    meeting.members[2].process(&cohost_commit.commit).unwrap();
    drop(host_commit);
    let host = meeting.members[0].verification_code().unwrap();
    let ben = meeting.members[2].verification_code().unwrap();
    assert_eq!(host.epoch(), ben.epoch());
    assert_ne!(host.to_string(), ben.to_string());
}

#[test]
fn expelled_member_cannot_decrypt_media_sent_after_the_commit() {
    let mut meeting = Meeting::start(&["Host", "Aiko", "Ben", "Mallory"]);
    let config = MediaKeyConfig::default();
    let start = Instant::now();
    let receivers: Vec<MediaReceiver> = meeting
        .members
        .iter()
        .map(|m| MediaReceiver::new(config, m.epoch_keys().unwrap()).unwrap())
        .collect();
    let mut receivers = receivers;
    let aiko_leaf = meeting.leaf(1);
    let mut aiko_sender =
        MediaSender::new(config, &meeting.members[1].epoch_keys().unwrap(), aiko_leaf).unwrap();

    // Before the expel, everyone (Mallory included) hears Aiko.
    let mut wire = Vec::new();
    let before = aiko_sender
        .encrypt_into(&[], b"before", &mut wire)
        .unwrap()
        .to_vec();
    for (i, receiver) in receivers.iter_mut().enumerate() {
        if i == 1 {
            continue;
        }
        let mut out = Vec::new();
        let frame = receiver.decrypt_into(&before, 0, &mut out, start).unwrap();
        assert_eq!(frame.payload, b"before");
    }

    // The host expels Mallory; the remaining members install the new epoch.
    let mallory = meeting.leaf(3);
    let expel = meeting.members[0].commit(Vec::new(), &[mallory]).unwrap();
    meeting.fan_out(&expel, &[3]);
    let at = start + Duration::from_millis(10);
    for (receiver, member) in receivers.iter_mut().zip(&meeting.members).take(3) {
        receiver.install(member.epoch_keys().unwrap(), at);
    }
    aiko_sender
        .rekey(&meeting.members[1].epoch_keys().unwrap(), aiko_leaf)
        .unwrap();

    // Mallory, even processing the commit that removed her, gets no new keys.
    let seen = meeting.members[3].process(&expel.commit).unwrap();
    assert!(matches!(seen, Incoming::Commit(change) if change.self_removed));
    assert!(!meeting.members[3].in_group());
    assert!(meeting.members[3].epoch_keys().is_err());

    let after = aiko_sender
        .encrypt_into(&[], b"after", &mut wire)
        .unwrap()
        .to_vec();
    for i in [0, 2] {
        let mut out = Vec::new();
        let frame = receivers[i].decrypt_into(&after, 0, &mut out, at).unwrap();
        assert_eq!(frame.payload, b"after");
    }
    let mut out = Vec::new();
    assert!(matches!(
        receivers[3].decrypt_into(&after, 0, &mut out, at),
        Err(MediaError::UnknownEpoch { .. })
    ));
}

#[test]
fn frames_straddling_an_epoch_change_decrypt_within_the_grace_window() {
    let mut meeting = Meeting::start(&["Host", "Aiko", "Ben"]);
    let config = MediaKeyConfig::default();
    let start = Instant::now();
    let host_leaf = meeting.leaf(0);
    let mut host_sender =
        MediaSender::new(config, &meeting.members[0].epoch_keys().unwrap(), host_leaf).unwrap();
    let mut ben = MediaReceiver::new(config, meeting.members[2].epoch_keys().unwrap()).unwrap();

    // Three frames in flight, then a new member joins.
    let mut wire = Vec::new();
    let in_flight: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            host_sender
                .encrypt_into(&[], &[i; 160], &mut wire)
                .unwrap()
                .to_vec()
        })
        .collect();
    meeting.admit(vec![GroupMember::guest("Chie").unwrap()]);
    host_sender
        .rekey(&meeting.members[0].epoch_keys().unwrap(), host_leaf)
        .unwrap();
    ben.install(meeting.members[2].epoch_keys().unwrap(), start);
    let fresh = host_sender
        .encrypt_into(&[], &[9; 160], &mut wire)
        .unwrap()
        .to_vec();

    let mut out = Vec::new();
    // New-epoch frame arrives first, then the old ones, still within grace.
    let new_epoch = meeting.members[0].epoch().unwrap();
    let frame = ben
        .decrypt_into(&fresh, 0, &mut out, start + Duration::from_millis(5))
        .unwrap();
    assert_eq!(frame.epoch, new_epoch);
    for (i, f) in in_flight.iter().enumerate() {
        let frame = ben
            .decrypt_into(f, 0, &mut out, start + Duration::from_millis(300))
            .unwrap();
        assert_eq!(frame.payload, &[i as u8; 160]);
        assert_eq!(frame.epoch, new_epoch - 1);
    }
    // After the grace window the old epoch is refused as stale.
    let late = start + config.grace + Duration::from_millis(1);
    assert!(matches!(
        ben.decrypt_into(&in_flight[0], 0, &mut out, late),
        Err(MediaError::StaleEpoch { .. })
    ));
}

#[test]
fn leave_and_server_remove_proposals_are_committed_by_the_host() {
    let server = ExternalSenderKey::generate("conclave.example").unwrap();
    let mut host = GroupMember::guest("Host").unwrap();
    host.create_group(b"meeting-ds", vec![server.external_sender()])
        .unwrap();
    let mut meeting = Meeting {
        members: vec![host],
    };
    meeting.admit(
        ["Aiko", "Ben", "Chie"]
            .iter()
            .map(|n| GroupMember::guest(n).unwrap())
            .collect(),
    );

    // Aiko leaves: her proposal reaches everyone, the host commits it.
    let leave = meeting.members[1].propose_leave().unwrap();
    let aiko_leaf = meeting.leaf(1);
    for i in [0, 2, 3] {
        assert_eq!(
            meeting.members[i].process(&leave).unwrap(),
            Incoming::Proposal {
                removes: Some(aiko_leaf)
            }
        );
    }
    let commit = meeting.members[0].commit(Vec::new(), &[]).unwrap();
    meeting.fan_out(&commit, &[1]);
    let change = meeting.members[1].process(&commit.commit).unwrap();
    assert!(matches!(change, Incoming::Commit(c) if c.self_removed));
    meeting.members.remove(1);

    // Ben's connection drops: the server proposes his removal as external sender.
    let ben_leaf = meeting.leaf(1);
    let epoch = meeting.members[0].epoch().unwrap();
    let proposal = server
        .propose_remove(&meeting.members[0].group_id().unwrap(), epoch, ben_leaf)
        .unwrap();
    for i in [0, 2] {
        meeting.members[i].process(&proposal).unwrap();
    }
    let commit = meeting.members[0].commit(Vec::new(), &[]).unwrap();
    meeting.members[0].confirm_commit().unwrap();
    let Incoming::Commit(change) = meeting.members[2].process(&commit.commit).unwrap() else {
        panic!("expected a commit");
    };
    assert_eq!(change.removed, vec![ben_leaf]);
    assert_eq!(meeting.members[0].member_count().unwrap(), 2);
    assert_eq!(
        meeting.members[0].verification_code().unwrap(),
        meeting.members[2].verification_code().unwrap()
    );
}

#[test]
fn only_committers_can_add_and_stale_or_forged_commits_are_refused() {
    let mut meeting = Meeting::start(&["Host", "Aiko", "Ben"]);
    let code_before = meeting.codes();

    // Aiko (not a committer) tries to add her friend.
    let friend = GroupMember::guest("Friend").unwrap();
    let kp = validate_key_package(&friend.key_package().unwrap(), None, NOW).unwrap();
    let rogue = meeting.members[1].commit(vec![kp], &[]).unwrap();
    for i in [0, 2] {
        assert!(matches!(
            meeting.members[i].process(&rogue.commit),
            Err(GroupError::UnauthorizedAdd { .. })
        ));
    }
    meeting.members[1].discard_commit().unwrap();
    assert_eq!(
        meeting.codes(),
        code_before,
        "refused commit changed nothing"
    );

    // A commit from an old epoch is refused.
    let first = meeting.members[0].rekey().unwrap();
    meeting.fan_out(&first, &[]);
    assert!(matches!(
        meeting.members[2].process(&first.commit),
        Err(GroupError::WrongEpoch { .. })
    ));

    // Garbage and truncated messages give errors, not panics.
    let next = meeting.members[0].rekey().unwrap();
    for bad in [
        &b""[..],
        b"\x00\x01\x00\x01",
        &next.commit[..next.commit.len() / 2],
    ] {
        assert!(meeting.members[2].process(bad).is_err());
    }
    // A tampered commit (one byte flipped in the signed part) is refused.
    let mut tampered = next.commit.clone();
    let mid = tampered.len() - 40;
    tampered[mid] ^= 0x01;
    assert!(meeting.members[2].process(&tampered).is_err());
    // The genuine one still applies afterwards.
    meeting.fan_out(&next, &[]);
    assert!(all_equal(&meeting.codes()));
}

#[test]
fn losing_committer_rebases_after_the_winning_commit() {
    let mut meeting = Meeting::start(&["Host", "CoHost", "Ben"]);
    meeting
        .members
        .iter_mut()
        .for_each(|m| m.set_committers([0, 1]));
    // Both committers commit from the same epoch; the server takes the host's first.
    let winner = meeting.members[0].rekey().unwrap();
    let loser = meeting.members[1].rekey().unwrap();
    assert_eq!(winner.from_epoch, loser.from_epoch);
    meeting.members[0].confirm_commit().unwrap();
    meeting.members[1].discard_commit().unwrap();
    meeting.members[1].process(&winner.commit).unwrap();
    meeting.members[2].process(&winner.commit).unwrap();
    // The late loser's commit is refused by everyone as stale.
    assert!(meeting.members[2].process(&loser.commit).is_err());
    // The co-host rebases: commits again on top of the winner.
    let rebased = meeting.members[1].rekey().unwrap();
    meeting.members[1].confirm_commit().unwrap();
    meeting.members[0].process(&rebased.commit).unwrap();
    meeting.members[2].process(&rebased.commit).unwrap();
    assert!(all_equal(&meeting.codes()));
}

#[test]
fn roster_shows_verified_users_and_unverified_guests() {
    let org = OrgSigningKey::generate();
    let signer = conclave_e2ee::group::generate_signature_keys().unwrap();
    let certificate = org
        .certify("u-1", "Aiko Tanaka", signer.public(), NOW - 10, NOW + 3600)
        .unwrap();
    let aiko = GroupMember::new(signer, &CredentialPayload::user(certificate)).unwrap();

    // A guest who copies Aiko's certificate into their own leaf is "invalid", not verified.
    let thief_signer = conclave_e2ee::group::generate_signature_keys().unwrap();
    let stolen = org
        .certify("u-1", "Aiko Tanaka", &[0u8; 32], NOW - 10, NOW + 3600)
        .unwrap();
    let thief = GroupMember::new(thief_signer, &CredentialPayload::user(stolen)).unwrap();

    let mut host = GroupMember::guest("Host").unwrap();
    host.create_group(b"roster", Vec::new()).unwrap();
    let mut meeting = Meeting {
        members: vec![host],
    };
    let aiko_kp =
        validate_key_package(&aiko.key_package().unwrap(), Some(&org.public()), NOW).unwrap();
    assert!(aiko_kp.trust.is_verified(), "lobby sees the verified state");
    meeting.admit(vec![aiko, thief, GroupMember::guest("Visitor").unwrap()]);

    let roster = meeting.members[2].roster(Some(&org.public()), NOW).unwrap();
    assert_eq!(roster.len(), 4);
    let states: Vec<&TrustState> = roster.iter().map(|r| &r.trust).collect();
    assert!(
        matches!(states[0], TrustState::UnverifiedGuest { display_name } if display_name == "Host")
    );
    assert!(matches!(states[1], TrustState::VerifiedUser { user_id, .. } if user_id == "u-1"));
    assert!(matches!(states[2], TrustState::Invalid { .. }));
    assert!(matches!(states[3], TrustState::UnverifiedGuest { .. }));
    let unverified: Vec<u32> = roster
        .iter()
        .filter(|r| !r.trust.is_verified())
        .map(|r| r.leaf_index)
        .collect();
    assert_eq!(unverified, vec![0, 2, 3]);

    // Later, the certificate has expired: Aiko shows as invalid.
    let later = meeting.members[0]
        .roster(Some(&org.public()), NOW + 7200)
        .unwrap();
    assert!(matches!(later[1].trust, TrustState::Invalid { .. }));
}

#[test]
fn group_state_survives_a_reload_from_the_storage_provider() {
    let mut meeting = Meeting::start(&["Host", "Aiko"]);
    let code = meeting.members[1].verification_code().unwrap();
    meeting.members[1].reload_from_storage().unwrap();
    assert_eq!(meeting.members[1].verification_code().unwrap(), code);
    let rekey = meeting.members[0].rekey().unwrap();
    meeting.fan_out(&rekey, &[]);
    assert!(all_equal(&meeting.codes()));
}

#[test]
fn key_packages_are_validated() {
    assert!(validate_key_package(b"", None, NOW).is_err());
    assert!(validate_key_package(&[0xff; 64], None, NOW).is_err());
    let member = GroupMember::guest("A").unwrap();
    let mut kp = member.key_package().unwrap();
    let last = kp.len() - 1;
    kp[last] ^= 0xff; // breaks the signature
    assert!(validate_key_package(&kp, None, NOW).is_err());
}

#[test]
fn remove_proposals_not_signed_by_the_groups_external_sender_are_refused() {
    let server = ExternalSenderKey::generate("conclave.example").unwrap();
    let impostor = ExternalSenderKey::generate("conclave.example").unwrap();
    let mut host = GroupMember::guest("Host").unwrap();
    host.create_group(b"meeting-ext", vec![server.external_sender()])
        .unwrap();
    let mut meeting = Meeting {
        members: vec![host],
    };
    meeting.admit(
        ["Aiko", "Ben"]
            .iter()
            .map(|n| GroupMember::guest(n).unwrap())
            .collect(),
    );
    let group_id = meeting.members[0].group_id().unwrap();
    let epoch = meeting.members[0].epoch().unwrap();
    let ben_leaf = meeting.leaf(2);

    // Same name, same sender index, another key: the signature does not verify.
    let forged = impostor.propose_remove(&group_id, epoch, ben_leaf).unwrap();
    for member in &mut meeting.members {
        assert!(member.process(&forged).is_err());
        assert!(member.pending_removals().is_empty());
    }
    // A group whose extension names no external sender refuses the real server too.
    let mut plain = Meeting::start(&["Host", "Aiko"]);
    let leaf = plain.leaf(1);
    let proposal = server
        .propose_remove(&plain.members[0].group_id().unwrap(), 1, leaf)
        .unwrap();
    assert!(plain.members[0].process(&proposal).is_err());

    // The genuine proposal is accepted, unless its leaf belongs to someone still present.
    let genuine = server.propose_remove(&group_id, epoch, ben_leaf).unwrap();
    let ben_key = meeting.members[2].signature_key().to_vec();
    meeting.members[1].set_present_keys([ben_key]);
    assert_eq!(
        meeting.members[1].process(&genuine),
        Err(GroupError::RemovesPresentMember { leaf: ben_leaf })
    );
    assert_eq!(
        meeting.members[0].process(&genuine).unwrap(),
        Incoming::Proposal {
            removes: Some(ben_leaf)
        }
    );
    assert_eq!(meeting.members[0].pending_removals(), vec![ben_leaf]);
}

/// The delivery service computes leaf indices itself from the commits it orders: a commit's
/// Removes blank their leaves first, then its Adds take the leftmost blank leaves in the order
/// of the Add proposals (RFC 9420 §12.1.1, §12.3). This pins openmls to that rule.
#[test]
fn adds_fill_the_leftmost_blank_leaves_in_order_after_the_commits_removals() {
    let mut meeting = Meeting::start(&["Host", "Aiko", "Ben", "Chie"]);
    assert_eq!(
        (1..4).map(|i| meeting.leaf(i)).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let joiners: Vec<GroupMember> = ["Dai", "Emi", "Fumi"]
        .iter()
        .map(|n| GroupMember::guest(n).unwrap())
        .collect();
    let key_packages = joiners
        .iter()
        .map(|j| validate_key_package(&j.key_package().unwrap(), None, NOW).unwrap())
        .collect();
    // Remove Aiko (1) and Chie (3, the last leaf) and add three in the same commit.
    let outgoing = meeting.members[0].commit(key_packages, &[1, 3]).unwrap();
    let mut removed = outgoing.removed_leaves.clone();
    removed.sort_unstable();
    assert_eq!(removed, vec![1, 3]);
    meeting.members[0].confirm_commit().unwrap();
    let welcome = outgoing.welcome.unwrap();
    let leaves: Vec<u32> = joiners
        .into_iter()
        .map(|mut j| {
            j.join(&welcome).unwrap();
            j.own_leaf_index().unwrap()
        })
        .collect();
    assert_eq!(leaves, vec![1, 3, 4]);
}
