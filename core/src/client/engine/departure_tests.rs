//! The engine's side of departures: the server's external Remove proposal is stored by every
//! member and committed by the committer; a proposal aimed at someone still present is refused.

#![allow(clippy::unwrap_used)]

use super::*;
use conclave_e2ee::group::ExternalSenderKey;
use conclave_protocol::MeetingNumber;

const GROUP_ID: &[u8] = b"departure-test-group";

fn state() -> MeetingState {
    MeetingState {
        locked: false,
        auto_lock_minutes: None,
        lobby_enabled: false,
        lobby_after_expulsion: false,
        require_sign_in: false,
        join_before_host: false,
        host_present: true,
        epoch: 0,
    }
}

fn admitted(participant: u64, role: Role, server: &ExternalSenderKey) -> ServerMessage {
    let create_group = role == Role::Host;
    ServerMessage::Admitted {
        participant: ParticipantId(participant),
        role,
        meeting: state(),
        create_group,
        external_sender: MlsBlob::new(server.external_sender_bytes().unwrap()),
        group_id: create_group.then(|| MlsBlob::new(GROUP_ID.to_vec())),
    }
}

struct Meeting {
    server: ExternalSenderKey,
    /// Host (participant 1), Aiko (2), Ben (3).
    engines: Vec<Engine>,
    roster: Vec<RosterEntry>,
}

impl Meeting {
    fn start() -> Self {
        let server = ExternalSenderKey::generate("conclave.test").unwrap();
        let names = ["Host", "Aiko", "Ben"];
        let mut engines: Vec<Engine> = names
            .iter()
            .map(|n| Engine::new(GroupMember::guest(n).unwrap(), None))
            .collect();
        engines[0].handle(admitted(1, Role::Host, &server), 0);
        let mut requests = Vec::new();
        for (i, engine) in engines.iter_mut().enumerate().skip(1) {
            let ClientMessage::Join { key_package, .. } = engine
                .join(
                    MeetingNumber::parse("123456789").unwrap(),
                    None,
                    DisplayName::new(names[i]).unwrap(),
                )
                .unwrap()
            else {
                panic!("expected a join");
            };
            requests.push(AddRequest {
                participant: ParticipantId(i as u64 + 1),
                key_package,
                role: Role::Guest,
                admission: None,
            });
        }
        let out = engines[0].handle(ServerMessage::AddMembers { epoch: 0, requests }, 0);
        let [
            ClientMessage::Commit {
                welcome: Some(welcome),
                ..
            },
        ] = out.send.as_slice()
        else {
            panic!("expected one add commit, got {:?}", out.send);
        };
        engines[0].handle(ServerMessage::CommitAccepted { epoch: 0 }, 0);
        for (i, engine) in engines.iter_mut().enumerate().skip(1) {
            engine.handle(admitted(i as u64 + 1, Role::Guest, &server), 0);
            engine.handle(
                ServerMessage::MlsWelcome {
                    welcome: welcome.clone(),
                },
                0,
            );
            assert!(engine.is_end_to_end_encrypted());
        }
        let roster = engines
            .iter()
            .enumerate()
            .map(|(i, e)| RosterEntry {
                participant: ParticipantId(i as u64 + 1),
                display_name: DisplayName::new(names[i]).unwrap(),
                role: if i == 0 { Role::Host } else { Role::Guest },
                signed_in: false,
                signature_key: MlsBlob::new(e.group().signature_key().to_vec()),
            })
            .collect();
        let mut meeting = Self {
            server,
            engines,
            roster,
        };
        meeting.send_roster();
        meeting
    }

    fn send_roster(&mut self) {
        for engine in &mut self.engines {
            engine.handle(
                ServerMessage::Roster {
                    participants: self.roster.clone(),
                },
                0,
            );
        }
    }

    fn leaf(&self, i: usize) -> u32 {
        self.engines[i].group().own_leaf_index().unwrap()
    }

    /// The server's side of a departure: the participant leaves the roster, everyone left
    /// gets the Remove proposal for `leaf`, the committer gets `remove_members`. Returns what
    /// the host's engine sent.
    fn depart(&mut self, who: usize, leaf: u32) -> (Vec<ClientMessage>, Vec<Vec<Event>>) {
        let gone = ParticipantId(who as u64 + 1);
        self.roster.retain(|e| e.participant != gone);
        let mut departed = self.engines.remove(who);
        assert!(departed.is_end_to_end_encrypted());
        self.send_roster();
        let epoch = self.engines[0].group().epoch().unwrap();
        let proposal = self.server.propose_remove(GROUP_ID, epoch, leaf).unwrap();
        let mut events = Vec::new();
        for engine in &mut self.engines {
            let out = engine.handle(
                ServerMessage::MlsProposal {
                    epoch,
                    proposal: MlsBlob::new(proposal.clone()),
                },
                0,
            );
            events.push(out.events);
        }
        let out = self.engines[0].handle(
            ServerMessage::RemoveMembers {
                epoch,
                participants: vec![gone],
            },
            0,
        );
        drop(departed.handle(ServerMessage::MeetingUpdate { meeting: state() }, 0));
        (out.send, events)
    }

    /// The server accepts the host's commit and relays it to the others.
    fn accept(&mut self, commit: &ClientMessage) {
        let ClientMessage::Commit { epoch, commit, .. } = commit else {
            panic!("expected a commit, got {commit:?}");
        };
        self.engines[0].handle(ServerMessage::CommitAccepted { epoch: *epoch }, 0);
        for engine in self.engines.iter_mut().skip(1) {
            let out = engine.handle(
                ServerMessage::MlsCommit {
                    epoch: *epoch,
                    commit: commit.clone(),
                    from: ParticipantId(1),
                },
                0,
            );
            assert!(
                !out.events
                    .iter()
                    .any(|e| matches!(e, Event::SecurityWarning(_))),
                "{:?}",
                out.events
            );
        }
    }

    fn leaves(&self, i: usize) -> Vec<u32> {
        self.engines[i]
            .group()
            .roster(None, 0)
            .unwrap()
            .iter()
            .map(|l| l.leaf_index)
            .collect()
    }
}

#[test]
fn a_departed_member_is_removed_through_the_servers_proposal() {
    let mut meeting = Meeting::start();
    let ben_leaf = meeting.leaf(2);
    let epoch = meeting.engines[0].group().epoch().unwrap();
    let (sent, events) = meeting.depart(2, ben_leaf);
    assert!(events.iter().all(Vec::is_empty), "{events:?}");
    // Both members hold the proposal; the committer commits it and names Ben as removed.
    for engine in &meeting.engines {
        assert_eq!(engine.group().pending_removals(), vec![ben_leaf]);
    }
    let [commit @ ClientMessage::Commit { removed, added, .. }] = sent.as_slice() else {
        panic!("expected one commit, got {sent:?}");
    };
    assert_eq!(removed, &vec![ParticipantId(3)]);
    assert!(added.is_empty());
    let commit = commit.clone();
    meeting.accept(&commit);
    for i in 0..2 {
        assert_eq!(meeting.engines[i].group().epoch().unwrap(), epoch + 1);
        assert!(!meeting.leaves(i).contains(&ben_leaf));
        assert_eq!(meeting.leaves(i).len(), 2);
    }
    assert_eq!(
        meeting.engines[0].verification_code(),
        meeting.engines[1].verification_code()
    );
}

#[test]
fn a_proposal_for_someone_still_present_is_refused_and_the_committer_removes_by_value() {
    let mut meeting = Meeting::start();
    let aiko_leaf = meeting.leaf(1);
    let ben_leaf = meeting.leaf(2);
    // A wrong leaf index: Ben departs, but the proposal names Aiko's leaf.
    let (sent, events) = meeting.depart(2, aiko_leaf);
    for member_events in &events {
        assert!(
            matches!(member_events.as_slice(), [Event::SecurityWarning(w)] if w.contains("still lists as present")),
            "{member_events:?}"
        );
    }
    for engine in &meeting.engines {
        assert!(engine.group().pending_removals().is_empty());
    }
    let [commit @ ClientMessage::Commit { removed, .. }] = sent.as_slice() else {
        panic!("expected one commit, got {sent:?}");
    };
    assert_eq!(removed, &vec![ParticipantId(3)]);
    let commit = commit.clone();
    meeting.accept(&commit);
    for i in 0..2 {
        let leaves = meeting.leaves(i);
        assert!(leaves.contains(&aiko_leaf), "Aiko stays");
        assert!(!leaves.contains(&ben_leaf), "Ben is gone");
    }
    assert_eq!(
        meeting.engines[0].verification_code(),
        meeting.engines[1].verification_code()
    );
}

#[test]
fn a_removal_already_committed_needs_no_second_commit() {
    let mut meeting = Meeting::start();
    let ben_leaf = meeting.leaf(2);
    let (sent, _) = meeting.depart(2, ben_leaf);
    let commit = sent[0].clone();
    meeting.accept(&commit);
    // The server asks again (e.g. its re-issue crossed the commit): nothing left to do.
    let epoch = meeting.engines[0].group().epoch().unwrap();
    let out = meeting.engines[0].handle(
        ServerMessage::RemoveMembers {
            epoch,
            participants: vec![ParticipantId(3)],
        },
        0,
    );
    assert!(out.send.is_empty(), "{:?}", out.send);
}
