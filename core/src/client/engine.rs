//! The headless client engine without I/O: server messages in, client messages and events out.
//!
//! It owns this participant's MLS state. As the committer (host, co-host or acting committer)
//! it turns the server's `add_members` / `remove_members` into batched commits, and enforces
//! host policy a second time: it never adds a KeyPackage that fails validation or whose key or
//! account this client has seen expelled or denied.
//!
//! Departures: the server, as the group's MLS external sender, sends every member a Remove
//! proposal (`mls_proposal`) for the departed member's leaf; each member stores it unless the
//! leaf belongs to someone the server's roster still lists. The committer, told by
//! `remove_members`, commits the stored proposals by reference and removes by value only the
//! departed members no stored proposal covers.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use conclave_e2ee::group::{
    EpochChange, GroupError, GroupMember, Incoming, JoinRules, ValidatedKeyPackage,
    external_sender_from_bytes, validate_key_package,
};
use conclave_protocol::identity::{OrgPublicKey, TrustState};
use conclave_protocol::verification::VerificationCode;
use conclave_protocol::{
    AddRequest, ClientMessage, DenyReason, DisplayName, EndReason, ErrorCode, LobbyEntry,
    MeetingNumber, MeetingPassword, MeetingState, MlsBlob, ParticipantId, Reason, Role,
    RosterEntry, ServerMessage,
};

/// Where this participant stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Connected, not joined yet.
    Connected,
    /// Waiting in the lobby.
    InLobby,
    /// Admitted; waiting for the Welcome.
    Admitted,
    /// In the MLS group: media keys available.
    InMeeting,
    /// Out of the meeting, with the reason.
    Left(LeftReason),
}

/// Why the participant is no longer in the meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftReason {
    Denied(DenyReason),
    Expelled(Option<Reason>),
    Ended(EndReason),
    RemovedFromGroup,
    Left,
}

mod roster;

pub use roster::{Presence, RosterView};

/// Something the UI or a script should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The phase changed.
    Phase(Phase),
    /// New group keys: a new epoch with its verification code (the "verify again" moment).
    KeysChanged(VerificationCode),
    /// Someone knocked (hosts and co-hosts).
    Knock(LobbyEntry),
    /// The lobby list changed (hosts and co-hosts).
    Lobby(Vec<LobbyEntry>),
    /// The roster changed.
    Roster,
    /// Meeting settings changed.
    Meeting(MeetingState),
    /// The server refused a request.
    Error {
        code: ErrorCode,
        message: String,
        retry_after_secs: Option<u32>,
    },
    /// A handshake message was refused (forged, unauthorized, stale). The meeting goes on.
    SecurityWarning(String),
}

/// The engine's output for one input.
#[derive(Debug, Default)]
pub struct Output {
    pub send: Vec<ClientMessage>,
    pub events: Vec<Event>,
}

/// Engine failures that are the local client's fault (not the peer's).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error("invalid input: {0}")]
    Invalid(String),
}

#[derive(Debug, Default)]
struct CommitterWork {
    adds: BTreeMap<ParticipantId, AddRequest>,
    /// Departed participants by signature key (their leaf is looked up at commit time: the
    /// roster entry is gone by then, and another commit may already have removed the leaf).
    removes: BTreeMap<ParticipantId, Vec<u8>>,
}

/// The client engine.
pub struct Engine {
    member: GroupMember,
    org: Option<OrgPublicKey>,
    phase: Phase,
    participant: Option<ParticipantId>,
    role: Option<Role>,
    meeting: Option<MeetingState>,
    roster: Vec<RosterEntry>,
    lobby: Vec<LobbyEntry>,
    /// Work the committer still has to commit, and the part of it in the commit under way.
    queued: CommitterWork,
    in_flight: Option<CommitterWork>,
    /// Signature keys this client saw expelled or denied: never added again by this client.
    barred_keys: HashSet<Vec<u8>>,
    /// Participants who dropped out of the server's roster, with their signature keys, so a
    /// removal can still be matched to its leaf and reported by participant id.
    departed: BTreeMap<ParticipantId, Vec<u8>>,
    /// `remove_members` asked this client (the committer) to commit pending removals.
    commit_requested: bool,
    /// The server's `ExternalSender` as announced in `admitted`; a Welcome into a group whose
    /// external senders differ is refused.
    announced_external_sender: Option<Vec<u8>>,
    /// Unannounced leaves at the last check, so the warning is raised once per change.
    unannounced_seen: usize,
    now_unix: u64,
}

impl Engine {
    /// An engine for `member` (its keys and credential); `org` verifies signed-in members.
    pub fn new(member: GroupMember, org: Option<OrgPublicKey>) -> Self {
        Self {
            member,
            org,
            phase: Phase::Connected,
            participant: None,
            role: None,
            meeting: None,
            roster: Vec::new(),
            lobby: Vec::new(),
            queued: CommitterWork::default(),
            in_flight: None,
            barred_keys: HashSet::new(),
            departed: BTreeMap::new(),
            commit_requested: false,
            announced_external_sender: None,
            unannounced_seen: 0,
            now_unix: 0,
        }
    }

    /// The `join` request (with a fresh KeyPackage).
    pub fn join(
        &mut self,
        meeting: MeetingNumber,
        password: Option<MeetingPassword>,
        display_name: DisplayName,
    ) -> Result<ClientMessage, EngineError> {
        Ok(ClientMessage::Join {
            meeting,
            password,
            display_name,
            key_package: MlsBlob::new(self.member.key_package()?),
        })
    }

    /// Current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// This participant's id, once the server assigned one.
    pub fn participant(&self) -> Option<ParticipantId> {
        self.participant
    }

    /// This participant's role, once admitted.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// Meeting settings as last announced.
    pub fn meeting(&self) -> Option<&MeetingState> {
        self.meeting.as_ref()
    }

    /// People waiting in the lobby (hosts and co-hosts see it).
    pub fn lobby(&self) -> &[LobbyEntry] {
        &self.lobby
    }

    /// The padlock: media is end-to-end encrypted exactly when this client holds group keys.
    pub fn is_end_to_end_encrypted(&self) -> bool {
        self.phase == Phase::InMeeting && self.member.in_group()
    }

    /// The current verification code.
    pub fn verification_code(&self) -> Option<VerificationCode> {
        self.member.verification_code().ok()
    }

    /// The MLS group (for media keys and the roster).
    pub fn group(&self) -> &GroupMember {
        &self.member
    }

    fn set_phase(&mut self, phase: Phase, out: &mut Output) {
        if self.phase != phase {
            self.phase = phase.clone();
            out.events.push(Event::Phase(phase));
        }
    }

    fn keys_changed(&mut self, out: &mut Output) {
        if let Ok(code) = self.member.verification_code() {
            out.events.push(Event::KeysChanged(code));
        }
    }

    /// Marks the leaves of the server's host and co-hosts as allowed to add members.
    fn refresh_committers(&mut self) {
        let moderators: Vec<ParticipantId> = self
            .roster
            .iter()
            .filter(|e| matches!(e.role, Role::Host | Role::CoHost))
            .map(|e| e.participant)
            .collect();
        // Only hosts and co-hosts add (an acting committer before the host arrives is made a
        // co-host by the server). A leaf is never trusted for its position: a newcomer can
        // take over leaf 0 once its creator has left.
        let mut leaves: BTreeSet<u32> =
            moderators.iter().filter_map(|p| self.leaf_of(*p)).collect();
        if let Ok(own) = self.member.own_leaf_index()
            && matches!(self.role, Some(Role::Host | Role::CoHost))
        {
            leaves.insert(own);
        }
        self.member.set_committers(leaves);
    }

    /// A host action or other request from the user, checked for shape only; the server and
    /// the committer enforce who may do what.
    pub fn request(&mut self, message: ClientMessage) -> Output {
        if let ClientMessage::Deny { participant, .. } | ClientMessage::Expel { participant } =
            &message
            && let Some(key) = self.key_of(*participant)
        {
            self.barred_keys.insert(key);
        }
        // Admissions carry this member's signature over the lobby entry's key, so the
        // committer can tell a host's decision from the server's.
        match message {
            ClientMessage::Admit { participant, .. } => {
                return Output {
                    send: vec![self.signed_admit(participant)],
                    events: Vec::new(),
                };
            }
            ClientMessage::AdmitAll => {
                let send = self
                    .lobby
                    .iter()
                    .map(|e| self.signed_admit(e.participant))
                    .collect();
                return Output {
                    send,
                    events: Vec::new(),
                };
            }
            _ => {}
        }
        if matches!(message, ClientMessage::Leave) {
            let mut out = Output::default();
            self.set_phase(Phase::Left(LeftReason::Left), &mut out);
            out.send.push(message);
            return out;
        }
        Output {
            send: vec![message],
            events: Vec::new(),
        }
    }

    /// An `admit` for a lobby entry, signed when this client is in the group and knows the
    /// entry's key (otherwise the committer will not add them to a guarded meeting).
    fn signed_admit(&self, participant: ParticipantId) -> ClientMessage {
        let admission = self
            .lobby
            .iter()
            .find(|e| e.participant == participant)
            .and_then(|e| self.member.sign_admission(e.signature_key.as_bytes()).ok())
            .map(MlsBlob::new);
        ClientMessage::Admit {
            participant,
            admission,
        }
    }

    /// Whether the meeting, as last announced, lets only admitted people in.
    fn guarded(&self) -> bool {
        self.meeting
            .as_ref()
            .is_some_and(|m| m.locked || m.lobby_enabled)
    }

    /// The rules every member applies to the people a commit adds.
    fn join_rules(&self) -> JoinRules {
        JoinRules {
            certified_only: self.meeting.as_ref().is_some_and(|m| m.require_sign_in),
            org: self.org,
            now: self.now_unix,
        }
    }

    /// Why this committer will not add an admitted participant, if it will not: a guest to a
    /// meeting that requires sign-in, or anyone a host did not admit by signature while the
    /// meeting is locked or has its lobby on (the meeting's host account and the schedule's
    /// co-hosts excepted, who must then be certified).
    fn refuse_add(&self, request: &AddRequest, key: &ValidatedKeyPackage) -> Option<String> {
        let rules = self.join_rules();
        if !rules.admits(&key.trust) {
            return Some("the meeting requires sign-in and they are not signed in".into());
        }
        if !self.guarded() {
            return None;
        }
        // The meeting's host account and the schedule's co-hosts get in past lock and lobby;
        // a server claiming that role for someone can only bring in a certified member of the
        // organization, shown under their certified name.
        if matches!(request.role, Role::Host | Role::CoHost) && key.trust.is_verified() {
            return None;
        }
        let Some(admission) = &request.admission else {
            return Some("no host admitted them".into());
        };
        match self.member.check_admission(
            admission.admitter_key.as_bytes(),
            &key.signature_key,
            admission.signature.as_bytes(),
        ) {
            Ok(leaf) if self.member.is_committer(leaf) => None,
            Ok(_) => Some("they were admitted by someone who is not a host".into()),
            Err(e) => Some(e.to_string()),
        }
    }

    /// Handles one server message. `now_unix` (seconds) checks certificate validity.
    pub fn handle(&mut self, message: ServerMessage, now_unix: u64) -> Output {
        self.now_unix = now_unix;
        let mut out = Output::default();
        match message {
            ServerMessage::Hello { .. } | ServerMessage::Pong { .. } => {}
            ServerMessage::InLobby { participant } => {
                self.participant = Some(participant);
                self.set_phase(Phase::InLobby, &mut out);
            }
            message @ ServerMessage::Admitted { .. } => self.on_admitted(message, &mut out),
            ServerMessage::Denied { reason } => {
                self.set_phase(Phase::Left(LeftReason::Denied(reason)), &mut out);
            }
            ServerMessage::Knock { entry } => {
                // The server announces a newcomer with a knock only (the full list comes with
                // later changes), so the knocker joins the lobby list here.
                self.lobby.retain(|e| e.participant != entry.participant);
                self.lobby.push(entry.clone());
                out.events.push(Event::Knock(entry));
            }
            ServerMessage::Lobby { entries } => {
                self.lobby = entries.clone();
                out.events.push(Event::Lobby(entries));
            }
            ServerMessage::AddMembers { requests, .. } => {
                self.queue_adds(requests);
                self.commit_queued(&mut out);
            }
            ServerMessage::RemoveMembers { participants, .. } => {
                for p in participants {
                    if let Some(key) = self.key_of(p) {
                        self.barred_keys.insert(key.clone());
                        self.queued.removes.insert(p, key);
                    }
                }
                self.commit_requested = true;
                self.commit_queued(&mut out);
            }
            ServerMessage::MlsWelcome { welcome } => self.on_welcome(welcome.as_bytes(), &mut out),
            ServerMessage::MlsCommit { commit, .. } => self.on_commit(commit.as_bytes(), &mut out),
            ServerMessage::MlsProposal { proposal, .. } => {
                match self.member.process(proposal.as_bytes()) {
                    Ok(Incoming::Proposal { removes }) => {
                        tracing::debug!(?removes, "stored a proposal for the next commit");
                    }
                    Ok(Incoming::Commit(_)) => {}
                    Err(e) => {
                        out.events
                            .push(Event::SecurityWarning(format!("refused a proposal: {e}")));
                    }
                }
            }
            ServerMessage::CommitAccepted { .. } => {
                self.in_flight = None;
                match self.member.confirm_commit() {
                    Ok(change) => self.after_commit(&change, &mut out),
                    Err(e) => out.events.push(Event::SecurityWarning(e.to_string())),
                }
                self.commit_queued(&mut out);
            }
            ServerMessage::CommitRejected { .. } => {
                let _ = self.member.discard_commit();
                if let Some(work) = self.in_flight.take() {
                    self.queued.adds.extend(work.adds);
                    self.queued.removes.extend(work.removes);
                }
            }
            ServerMessage::MeetingUpdate { meeting } => {
                self.meeting = Some(meeting.clone());
                out.events.push(Event::Meeting(meeting));
            }
            ServerMessage::Roster { participants } => {
                self.set_roster(participants);
                self.refresh_committers();
                out.events.push(Event::Roster);
                self.check_unannounced(&mut out);
            }
            ServerMessage::RoleChanged { participant, role } => {
                if Some(participant) == self.participant {
                    self.role = Some(role);
                }
                if let Some(entry) = self
                    .roster
                    .iter_mut()
                    .find(|e| e.participant == participant)
                {
                    entry.role = role;
                }
                self.refresh_committers();
                out.events.push(Event::Roster);
            }
            ServerMessage::Expelled { reason } => {
                self.set_phase(Phase::Left(LeftReason::Expelled(reason)), &mut out);
            }
            ServerMessage::MeetingEnded { reason } => {
                self.set_phase(Phase::Left(LeftReason::Ended(reason)), &mut out);
            }
            ServerMessage::Error {
                code,
                message,
                retry_after_secs,
            } => out.events.push(Event::Error {
                code,
                message,
                retry_after_secs,
            }),
            // Media signalling is the connection's (`media_start`), beside the media link;
            // candidates travel inside the descriptions.
            ServerMessage::SdpAnswer { .. }
            | ServerMessage::SdpOffer { .. }
            | ServerMessage::IceCandidate { .. } => {}
        }
        out
    }

    /// Admitted to the meeting: the first member creates the group, the others wait for
    /// their Welcome.
    fn on_admitted(&mut self, message: ServerMessage, out: &mut Output) {
        let ServerMessage::Admitted {
            participant,
            role,
            meeting,
            create_group,
            external_sender,
            group_id,
        } = message
        else {
            return;
        };
        self.participant = Some(participant);
        self.role = Some(role);
        self.meeting = Some(meeting);
        self.announced_external_sender = Some(external_sender.as_bytes().to_vec());
        if create_group && !self.member.in_group() {
            // The server names the group (it builds its Remove proposals for this id)
            // and is the group's only external sender. Without a usable one the group
            // still works; removals are then committed by value.
            let senders = match external_sender_from_bytes(external_sender.as_bytes()) {
                Ok(sender) => vec![sender],
                Err(e) => {
                    out.events.push(Event::SecurityWarning(format!(
                        "the server's external sender is unusable: {e}"
                    )));
                    Vec::new()
                }
            };
            let group_id = match group_id {
                Some(id) => id.as_bytes().to_vec(),
                None => {
                    let mut id = vec![0u8; 16];
                    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
                    id
                }
            };
            match self.member.create_group(&group_id, senders) {
                Ok(()) => {
                    self.set_phase(Phase::InMeeting, out);
                    self.keys_changed(out);
                }
                Err(e) => out.events.push(Event::SecurityWarning(e.to_string())),
            }
        } else {
            self.set_phase(Phase::Admitted, out);
        }
    }

    /// The Welcome into the group: refused unless the group's external sender is the one the
    /// server announced.
    fn on_welcome(&mut self, welcome: &[u8], out: &mut Output) {
        match self.member.join(welcome) {
            Ok(()) => {
                let announced = self.announced_external_sender.clone().unwrap_or_default();
                if self.member.external_senders_match(&announced) != Ok(true) {
                    // Another external sender could propose removals the server did not
                    // announce; a group without ours cannot be what the server said.
                    self.member.forget_group();
                    out.events.push(Event::SecurityWarning(
                        GroupError::ExternalSendersMismatch.to_string(),
                    ));
                    out.send.push(ClientMessage::Leave);
                    self.set_phase(Phase::Left(LeftReason::RemovedFromGroup), out);
                    return;
                }
                self.set_phase(Phase::InMeeting, out);
                self.refresh_committers();
                self.keys_changed(out);
                self.check_unannounced(out);
            }
            Err(e) => out.events.push(Event::SecurityWarning(format!(
                "could not process the Welcome: {e}"
            ))),
        }
    }

    /// Another member's commit, checked against this meeting's rules before it is merged.
    fn on_commit(&mut self, commit: &[u8], out: &mut Output) {
        self.refresh_committers();
        self.member.set_join_rules(self.join_rules());
        match self.member.process(commit) {
            Ok(Incoming::Commit(change)) => self.after_commit(&change, out),
            Ok(Incoming::Proposal { .. }) => {}
            Err(e) => out
                .events
                .push(Event::SecurityWarning(format!("refused a commit: {e}"))),
        }
        // A commit of ours that lost the race is retried on top of the winner.
        if self.in_flight.is_none() {
            self.commit_queued(out);
        }
    }

    fn queue_adds(&mut self, requests: Vec<AddRequest>) {
        for request in requests {
            self.queued.adds.insert(request.participant, request);
        }
    }

    fn after_commit(&mut self, change: &EpochChange, out: &mut Output) {
        self.prune_departed();
        // New leaves may belong to hosts or co-hosts the roster already named (the roster
        // comes before the commit).
        self.refresh_committers();
        if change.self_removed {
            self.set_phase(Phase::Left(LeftReason::RemovedFromGroup), out);
        } else {
            self.keys_changed(out);
            self.check_unannounced(out);
        }
    }

    /// The KeyPackages of `adds` that may go into the next commit, with whom they add. Those
    /// the meeting's rules refuse go back to the lobby; the expelled, denied and malformed are
    /// expelled for good.
    fn screen_adds(
        &self,
        adds: &BTreeMap<ParticipantId, AddRequest>,
        out: &mut Output,
    ) -> (Vec<ValidatedKeyPackage>, Vec<ParticipantId>) {
        let mut key_packages = Vec::new();
        let mut added = Vec::new();
        let mut refused = Vec::new();
        for (participant, request) in adds {
            let validated = validate_key_package(
                request.key_package.as_bytes(),
                self.org.as_ref(),
                self.now_unix,
            );
            let refusal = validated
                .as_ref()
                .ok()
                .filter(|kp| !self.barred_keys.contains(&kp.signature_key))
                .and_then(|kp| self.refuse_add(request, kp));
            if let Some(why) = refusal {
                // Not expelled: the server may simply be out of step (a lobby turned on
                // between the admit and this commit). Back to the lobby, where a host can
                // admit them with a signature.
                out.events.push(Event::SecurityWarning(format!(
                    "not adding participant {}: {why}",
                    participant.0
                )));
                refused.push(*participant);
                continue;
            }
            match validated {
                Ok(kp) if self.barred_keys.contains(&kp.signature_key) => {
                    out.events.push(Event::SecurityWarning(format!(
                        "not adding participant {}: expelled or denied earlier",
                        participant.0
                    )));
                    // Keep them out for good, so the server stops asking.
                    out.send.push(ClientMessage::Expel {
                        participant: *participant,
                    });
                }
                Ok(kp) => {
                    key_packages.push(kp);
                    added.push(*participant);
                }
                Err(e) => {
                    out.events.push(Event::SecurityWarning(format!(
                        "not adding participant {}: {e}",
                        participant.0
                    )));
                    out.send.push(ClientMessage::Expel {
                        participant: *participant,
                    });
                }
            }
        }
        if !refused.is_empty() {
            out.send.push(ClientMessage::ReturnToLobby {
                participants: refused,
            });
        }
        (key_packages, added)
    }

    /// As committer: commits everything queued in one batch, together with the proposals
    /// waiting in the group's proposal store (the server's Removes), unless a commit is
    /// under way.
    fn commit_queued(&mut self, out: &mut Output) {
        if self.in_flight.is_some() || !self.member.in_group() {
            return;
        }
        let mut work = std::mem::take(&mut self.queued);
        // Departed members whose leaf is already gone need nothing more.
        work.removes
            .retain(|_, key| self.leaf_with_key(key).is_some());
        let pending = self.member.pending_removals();
        let commit_pending = self.commit_requested && !pending.is_empty();
        self.commit_requested = false;
        if work.adds.is_empty() && work.removes.is_empty() && !commit_pending {
            return;
        }
        let (key_packages, added) = self.screen_adds(&work.adds, out);
        // A leaf the server's stored proposal already removes goes in by reference; removing
        // it by value as well would name it twice.
        let by_value: Vec<u32> = work
            .removes
            .values()
            .filter_map(|key| self.leaf_with_key(key))
            .filter(|leaf| !pending.contains(leaf))
            .collect();
        if key_packages.is_empty() && by_value.is_empty() && pending.is_empty() {
            return;
        }
        let Ok(epoch) = self.member.epoch() else {
            return;
        };
        // Keys of the current leaves, to name who each removed leaf belonged to.
        let leaf_keys: BTreeMap<u32, Vec<u8>> = self
            .member
            .roster(None, self.now_unix)
            .unwrap_or_default()
            .into_iter()
            .map(|l| (l.leaf_index, l.signature_key))
            .collect();
        match self.member.commit(key_packages, &by_value) {
            Ok(commit) => {
                let removed: Vec<ParticipantId> = commit
                    .removed_leaves
                    .iter()
                    .filter_map(|leaf| leaf_keys.get(leaf))
                    .filter_map(|key| self.participant_with_key(key, &work.removes))
                    .collect();
                out.send.push(ClientMessage::Commit {
                    epoch,
                    commit: MlsBlob::new(commit.commit),
                    welcome: commit.welcome.map(MlsBlob::new),
                    added: added.clone(),
                    removed,
                });
                self.in_flight = Some(CommitterWork {
                    adds: work
                        .adds
                        .into_iter()
                        .filter(|(p, _)| added.contains(p))
                        .collect(),
                    removes: work.removes,
                });
            }
            Err(e) => {
                out.events
                    .push(Event::SecurityWarning(format!("could not commit: {e}")));
            }
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod departure_tests;

#[cfg(test)]
mod admission_tests;
